create or replace view telnums as
select
    th.telnum,
    th.route_type,
    th.user_login,
    th.group_id,
    g.group_name,
    th.is_main_phone,
    th.is_disabled,
    th.is_greeting,
    th.is_greeting_custom,
    th.location,
    th.crm,
    th.calltracking,
    th.abc_telnum,
    th.abc_location,
    th.ivr,
    th.work_route,
    th.other_route,
    th.schedule,
    th.valid_from
from telnums_history as th
left join groups_history as g
    on g.group_id = th.group_id and g.is_current
where th.is_current;

comment on view telnums is 'The company''s numbers and their routes as they are now (current versions of telnums_history). Inbound calls carry the dialled number in calls.diversion.';
comment on column telnums.group_name is 'Current name of the department the number rings (route_type group).';
comment on column telnums.valid_from is 'Since when (UTC snapshot time) the number''s settings look like this.';
