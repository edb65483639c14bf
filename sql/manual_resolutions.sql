create table if not exists manual_resolutions (
    client      varchar not null,
    resolved_at timestamptz not null,
    note        varchar
);

comment on table manual_resolutions is 'Clients reached outside the PBX (a messenger, e-mail, a visit), recorded by `vats-etl resolve PHONE --note TEXT`: every miss of the client before resolved_at that W and the calls had left open is resolved_manually (missed_calls.outcome), never a callback, and the client leaves the call-back list until it misses again. One row per resolution; delete a row to undo it.';
comment on column manual_resolutions.client is 'The client''s number as calls.client spells it (digits, e.g. 79001234567).';
comment on column manual_resolutions.resolved_at is 'When the resolution was recorded (UTC): it covers the client''s misses up to this moment.';
comment on column manual_resolutions.note is 'What happened, for people (e.g. ответили в WhatsApp).';
