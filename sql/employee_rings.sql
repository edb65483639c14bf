create or replace view employee_rings as
with rang as (
    -- a call ringing a department gives one INCOMING per employee whose phone rang
    select
        we.callid,
        we.user_login,
        min(we.received_at) as rang_at
    from webhook_events as we
    where upper(we.type) = 'INCOMING' and we.user_login is not null
    group by we.callid, we.user_login
),

accepted as (
    select distinct
        we.callid,
        we.user_login
    from webhook_events as we
    where upper(we.type) = 'ACCEPTED' and we.user_login is not null
)

select
    r.callid,
    r.user_login,
    r.rang_at,
    a.callid is not null as is_accepted
from rang as r
left join accepted as a on a.callid = r.callid and a.user_login = r.user_login;

comment on view employee_rings is 'Whose phone rang for which call, from the PBX''s event webhooks (webhook_events): one row per call id and employee with an INCOMING event (any case; re-deliveries count once), and whether that employee answered it (an ACCEPTED of theirs). Empty without event webhooks: the call history names only the employee who answered.';
comment on column employee_rings.callid is 'The call (calls.uid for external calls).';
comment on column employee_rings.user_login is 'Employee whose phone rang (webhook_events.user_login).';
comment on column employee_rings.rang_at is 'When the receiver got the first INCOMING of this call for this employee (UTC).';
comment on column employee_rings.is_accepted is 'The employee answered this call (an ACCEPTED event of theirs).';
