create table if not exists sims_history (
    telnum        varchar not null,
    user_login    varchar,
    is_company    boolean,
    is_autocaller boolean,
    is_disabled   boolean,
    calltracking  varchar,
    abc_telnum    varchar,
    abc_location  varchar,
    attr_hash     varchar not null,
    valid_from    timestamptz not null,
    valid_to      timestamptz,
    is_current    boolean not null,
    primary key (telnum, valid_from)
);

comment on table sims_history is 'SIM cards of the PBX (GET /sims), SCD2: one row per version of a SIM''s assignment and settings.';
comment on column sims_history.telnum is 'The SIM''s phone number (natural key).';
comment on column sims_history.user_login is 'Employee the SIM is assigned to (null for company SIMs).';
comment on column sims_history.is_company is 'The SIM is a shared company number.';
comment on column sims_history.is_autocaller is 'The SIM is used for automatic calls (notifications).';
comment on column sims_history.is_disabled is 'Calls on the SIM are switched off.';
comment on column sims_history.calltracking is 'Call-tracking integration as delivered (empty = none).';
comment on column sims_history.abc_telnum is 'Additional city number linked to the SIM.';
comment on column sims_history.attr_hash is 'md5 of every attribute above; a snapshot adds a version when it differs from the current one.';
comment on column sims_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column sims_history.valid_to is 'Snapshot time (UTC) a different version (or the removal) was first seen; null while current.';
comment on column sims_history.is_current is 'True for the version in force now (valid_to is null).';
comment on column sims_history.abc_location is 'Region of abc_telnum.';
