create or replace view employee_names as
with directory as (
    select
        uh.user_login,
        arg_max(uh.user_name, uh.valid_from) as user_name,
        bool_or(uh.is_current) as is_current
    from users_history as uh
    group by uh.user_login
),

on_calls as (
    select
        c.user_login,
        arg_max(c.user_name, c.started_at) filter (where nullif(trim(c.user_name), '') is not null)
            as user_name,
        count(*) as calls,
        max(c.started_at) as last_call_at,
        min(c.uid) as example_uid
    from calls as c
    where c.user_login is not null
    group by c.user_login
),

rang as (
    select distinct er.user_login from employee_rings as er
),

logins as (
    select d.user_login from directory as d
    union
    select oc.user_login from on_calls as oc
    union
    select r.user_login from rang as r
)

select
    l.user_login,
    coalesce(nullif(trim(d.user_name), ''), oc.user_name, l.user_login) as user_name,
    case
        when nullif(trim(d.user_name), '') is not null then 'directory'
        when oc.user_name is not null then 'calls'
        else 'login'
    end as name_source,
    d.user_login is not null as is_in_directory,
    coalesce(d.is_current, false) as is_current,
    coalesce(oc.calls, 0) as calls,
    oc.last_call_at,
    oc.example_uid
from logins as l
left join directory as d on d.user_login = l.user_login
left join on_calls as oc on oc.user_login = l.user_login;

comment on view employee_names is 'Every employee login we know of — in the directory (users_history, also employees since deleted), on calls (calls.user_login) or in event webhooks (employee_rings) — with the name people read: the directory''s latest name, else the name the PBX sent with the login''s latest call (an employee who left before the first snapshot), else the login itself. The dashboards and emails name employees from here.';
comment on column employee_names.user_login is 'The employee''s login (calls.user_login, users_history.user_login).';
comment on column employee_names.user_name is 'The name to show: the directory''s latest name of the login, else calls.user_name of its latest call that has one, else the login.';
comment on column employee_names.name_source is 'Where user_name comes from: directory, calls or login.';
comment on column employee_names.is_in_directory is 'The directory has (or had) this login: users_history holds a version of it.';
comment on column employee_names.is_current is 'The employee is in the directory now (users: a current version).';
comment on column employee_names.calls is 'External calls with this user_login.';
comment on column employee_names.last_call_at is 'Start (UTC) of the login''s latest external call.';
comment on column employee_names.example_uid is 'One call of the login (the smallest uid), to look it up.';
