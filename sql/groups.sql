create or replace view groups as
with members as (
    select
        gm.group_id,
        count(*) as member_count,
        count(*) filter (where gm.is_calls_enabled) as calls_enabled_count,
        list(gm.user_login order by gm.member_position) as member_logins
    from group_members_history as gm
    where gm.is_current
    group by gm.group_id
)

select
    gh.group_id,
    gh.group_name,
    gh.ext,
    gh.call_order,
    gh.call_duration_s,
    gh.timeout_s,
    gh.timeout_target,
    gh.timeout_user,
    gh.timeout_group,
    gh.timeout_telnum,
    gh.advanced,
    coalesce(m.member_count, 0) as member_count,
    coalesce(m.calls_enabled_count, 0) as calls_enabled_count,
    coalesce(m.member_logins, []) as member_logins,
    gh.valid_from
from groups_history as gh
left join members as m on m.group_id = gh.group_id
where gh.is_current;

comment on view groups is 'Departments as they are now (current versions of groups_history) with their current members.';
comment on column groups.member_count is 'Employees in the department now.';
comment on column groups.calls_enabled_count is 'Members who take the department''s calls now (calls_enable).';
comment on column groups.member_logins is 'Members'' logins in the department''s order (the ringing order for BYORDER).';
comment on column groups.valid_from is 'Since when (UTC snapshot time) the department''s settings look like this.';
comment on column groups.group_id is 'Department id (natural key of groups_history).';
comment on column groups.group_name is 'Department name; calls.group_name carries the name delivered with each call.';
comment on column groups.ext is 'Short internal number of the department.';
comment on column groups.call_order is 'How calls are distributed among members, e.g. ALL, EVENLY, BYORDER (spec 8.1).';
comment on column groups.call_duration_s is 'Seconds each member rings before the next one (0 when call_order is ALL).';
comment on column groups.timeout_s is 'timeout.time: seconds the department rings before the timeout target takes the call.';
comment on column groups.timeout_target is 'timeout.target: where an unanswered call goes: voicemail, user, group or telnum.';
comment on column groups.timeout_user is 'timeout.user: login, when timeout_target is user.';
comment on column groups.timeout_group is 'timeout.group: department id, when timeout_target is group.';
comment on column groups.timeout_telnum is 'timeout.telnum: external number, when timeout_target is telnum.';
comment on column groups.advanced is 'The "for impatient clients" option as delivered (e.g. off).';
