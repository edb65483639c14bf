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
comment on column telnums.telnum is 'The phone number (natural key; matches calls.diversion).';
comment on column telnums.route_type is 'Route type (spec 9.6): user, group, ivr, scheduler, ...';
comment on column telnums.user_login is 'Employee the number rings, when route_type is user.';
comment on column telnums.group_id is 'Department the number rings, when route_type is group.';
comment on column telnums.is_main_phone is 'The company''s main number.';
comment on column telnums.is_disabled is 'Calls to the number are switched off.';
comment on column telnums.is_greeting is 'A greeting is played before routing.';
comment on column telnums.is_greeting_custom is 'The greeting is a custom recording (not the standard one).';
comment on column telnums.location is 'Region of the number.';
comment on column telnums.crm is 'The "transfer to the responsible employee in CRM" option as delivered.';
comment on column telnums.calltracking is 'Call-tracking integration as delivered (empty = none).';
comment on column telnums.abc_telnum is 'Additional city number linked to this one.';
comment on column telnums.abc_location is 'Region of abc_telnum.';
comment on column telnums.ivr is 'The IVR menu (name, items by button) when route_type is ivr, as delivered (JSON, keys sorted).';
comment on column telnums.work_route is 'Route in working hours (scheduler numbers), as delivered (JSON, keys sorted).';
comment on column telnums.other_route is 'Route out of working hours (scheduler numbers): onduty employee or offtime message (JSON, keys sorted).';
comment on column telnums.schedule is 'Working hours by weekday: start/end in seconds after local midnight and a holiday flag (JSON, keys sorted).';
