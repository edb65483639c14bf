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
comment on column users.user_login is 'Login of the employee (natural key; calls.user_login).';
comment on column users.user_name is 'Full name as the PBX shows it.';
comment on column users.position is 'Job title as typed in the PBX.';
comment on column users.ext is 'Short internal number (extension).';
comment on column users.telnum is 'Direct phone number of the employee, if any.';
comment on column users.email is 'E-mail of the employee.';
comment on column users.role is 'Rights in the PBX: admin or user.';
comment on column users.mobile is 'Mobile phone number the PBX may redirect to.';
comment on column users.is_mobile_redirect is 'mobile_redirect.enabled: calls are redirected to the mobile.';
comment on column users.is_mobile_redirect_forward is 'mobile_redirect.forward as delivered (null when redirect is off).';
comment on column users.mobile_redirect_delay_s is 'mobile_redirect.delay: seconds before the redirect (null when redirect is off).';
