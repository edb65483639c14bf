create table if not exists telnums_history (
    telnum             varchar not null,
    route_type         varchar,
    user_login         varchar,
    group_id           varchar,
    is_main_phone      boolean,
    is_disabled        boolean,
    is_greeting        boolean,
    is_greeting_custom boolean,
    location           varchar,
    crm                varchar,
    calltracking       varchar,
    abc_telnum         varchar,
    abc_location       varchar,
    ivr                json,
    work_route         json,
    other_route        json,
    schedule           json,
    attr_hash          varchar not null,
    valid_from         timestamptz not null,
    valid_to           timestamptz,
    is_current         boolean not null,
    primary key (telnum, valid_from)
);

comment on table telnums_history is 'The company''s phone numbers and their routes (GET /telnums), SCD2: one row per version of a number''s settings. calls.diversion is the number an inbound call was dialled to. Current state: view telnums.';
comment on column telnums_history.telnum is 'The phone number (natural key; matches calls.diversion).';
comment on column telnums_history.route_type is 'Route type (spec 9.6): user, group, ivr, scheduler, ...';
comment on column telnums_history.user_login is 'Employee the number rings, when route_type is user.';
comment on column telnums_history.group_id is 'Department the number rings, when route_type is group.';
comment on column telnums_history.is_main_phone is 'The company''s main number.';
comment on column telnums_history.is_disabled is 'Calls to the number are switched off.';
comment on column telnums_history.is_greeting is 'A greeting is played before routing.';
comment on column telnums_history.location is 'Region of the number.';
comment on column telnums_history.crm is 'The "transfer to the responsible employee in CRM" option as delivered.';
comment on column telnums_history.calltracking is 'Call-tracking integration as delivered (empty = none).';
comment on column telnums_history.abc_telnum is 'Additional city number linked to this one.';
comment on column telnums_history.ivr is 'The IVR menu (name, items by button) when route_type is ivr, as delivered (JSON, keys sorted).';
comment on column telnums_history.work_route is 'Route in working hours (scheduler numbers), as delivered (JSON, keys sorted).';
comment on column telnums_history.other_route is 'Route out of working hours (scheduler numbers): onduty employee or offtime message (JSON, keys sorted).';
comment on column telnums_history.schedule is 'Working hours by weekday: start/end in seconds after local midnight and a holiday flag (JSON, keys sorted).';
comment on column telnums_history.attr_hash is 'md5 of every attribute above; a snapshot adds a version when it differs from the current one.';
comment on column telnums_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column telnums_history.valid_to is 'Snapshot time (UTC) a different version (or the removal) was first seen; null while current.';
comment on column telnums_history.is_current is 'True for the version in force now (valid_to is null).';
comment on column telnums_history.is_greeting_custom is 'The greeting is a custom recording (not the standard one).';
comment on column telnums_history.abc_location is 'Region of abc_telnum.';
