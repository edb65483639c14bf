create or replace view user_department_spans as
with members as (
    select
        gm.user_login,
        gm.group_id,
        scd2_version_from(gm.valid_from) as member_from,
        coalesce(gm.valid_to, 'infinity'::timestamptz) as member_to
    from group_members_history as gm
),

group_versions as (
    select
        gh.group_id,
        gh.group_name,
        scd2_version_from(gh.valid_from) as version_from,
        coalesce(gh.valid_to, 'infinity'::timestamptz) as version_to
    from groups_history as gh
),

memberships as (
    select
        m.user_login,
        m.group_id,
        coalesce(gv.group_name, m.group_id) as group_name,
        greatest(m.member_from, gv.version_from) as span_from,
        least(m.member_to, gv.version_to) as span_to
    from members as m
    inner join group_versions as gv
        on
            gv.group_id = m.group_id
            and gv.version_from < m.member_to
            and m.member_from < gv.version_to
),

bounds as (
    select ms.user_login, ms.span_from as bound_at from memberships as ms
    union
    select ms.user_login, ms.span_to as bound_at from memberships as ms
),

segments as (
    select
        b.user_login,
        b.bound_at as span_from,
        lead(b.bound_at) over (partition by b.user_login order by b.bound_at) as span_to
    from bounds as b
)

select
    s.user_login,
    s.span_from,
    s.span_to,
    array_to_string(list_sort(list_distinct(list(ms.group_name))), ', ') as user_department,
    list_sort(list_distinct(list(ms.group_id))) as group_ids
from segments as s
inner join memberships as ms
    on
        ms.user_login = s.user_login
        and ms.span_from <= s.span_from
        and s.span_to <= ms.span_to
where s.span_to is not null
group by s.user_login, s.span_from, s.span_to;

comment on view user_department_spans is 'Helper for calls_enriched: for each employee, the time spans during which the set of departments they belonged to (and those departments'' names) stayed the same, from group_members_history and groups_history. Versions seen by the very first snapshot are taken to hold since -infinity, so history loaded before snapshots began still gets a department.';
comment on column user_department_spans.span_from is 'Start of the span (UTC, inclusive); -infinity for the state of the first snapshot.';
comment on column user_department_spans.span_to is 'End of the span (UTC, exclusive); infinity while current.';
comment on column user_department_spans.user_department is 'Names of the departments the employee belonged to during the span, sorted, comma separated.';
comment on column user_department_spans.group_ids is 'Ids of those departments, sorted.';
comment on column user_department_spans.user_login is 'Member''s login (users_history.user_login).';
