create or replace view users as
select
    uh.user_login,
    uh.user_name,
    uh.position,
    uh.ext,
    uh.telnum,
    uh.email,
    uh.role,
    uh.mobile,
    uh.is_mobile_redirect,
    uh.is_mobile_redirect_forward,
    uh.mobile_redirect_delay_s,
    uh.group_ids,
    uh.valid_from
from users_history as uh
where uh.is_current;

comment on view users is 'Employees as they are now: the current version of each login in users_history (employees deleted from the PBX are not here; their history is).';
comment on column users.group_ids is 'Departments the employee belongs to now (ids; names in groups).';
comment on column users.valid_from is 'Since when (UTC snapshot time) this employee looks like this.';
