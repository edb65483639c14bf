-- For each client a change touches (`changes`: rows of outcomes_cache_changes; the client a
-- changed call belongs to, and the one it belonged to), from when its outcomes may differ
-- (zone_start) and from which of its calls they must be recomputed (context_start).
-- zone_start reaches back max(W, repeat window) before the earliest change (W as the longest
-- window a cached miss has: with W in working time it may span a weekend), and further, to
-- the client's last conversation before it: every miss since then may take the change as
-- its next contact (next_contact_at looks arbitrarily far ahead). context_start is the last
-- conversation before zone_start - repeat window, so lost contacts and repeat callers see
-- what they need. Used by the incremental refresh of inbound_outcomes_cache.
create or replace macro outcomes_cache_scope(changes) as table
with reach as (
    select
        greatest(
            to_seconds(greatest(ks.recovery_window_s, ks.repeat_window_s)),
            (
                select max(oc.recovery_deadline_at - oc.started_at)
                from inbound_outcomes_cache as oc
            )
        ) as ahead,
        to_seconds(ks.repeat_window_s) as back
    from kpi_settings as ks
    limit 1
),

touched as (
    select ch.client, ch.started_at from query_table(changes) as ch
    union all
    select ch.old_client, ch.old_started_at from query_table(changes) as ch
),

changed as (
    select
        t.client,
        min(t.started_at) as changed_from
    from touched as t
    where t.client is not null and t.started_at is not null
    group by t.client
),

talks as (
    -- one pass over the touched clients' calls: their conversations before the change
    select
        ch.client,
        any_value(ch.changed_from) as changed_from,
        coalesce(
            list(c.started_at order by c.started_at) filter (
                where c.started_at < ch.changed_from
                and (
                    is_answered_call(c.direction, c.status)
                    or is_callback_call(c.direction, c.status, c.duration_s)
                )
            ),
            []
        ) as talked_at
    from changed as ch
    inner join calls as c on c.client = ch.client
    group by ch.client
),

zones as (
    select
        t.client,
        t.talked_at,
        least(
            t.changed_from - r.ahead,
            coalesce(t.talked_at[-1], '-infinity'::timestamptz)
        ) as zone_start,
        r.back
    from talks as t
    cross join reach as r
)

select
    z.client,
    z.zone_start,
    coalesce(
        list_max(list_filter(z.talked_at, lambda x: x < z.zone_start - z.back)),
        '-infinity'::timestamptz
    ) as context_start
from zones as z;
