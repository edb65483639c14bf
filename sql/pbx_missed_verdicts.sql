-- The PBX's own verdict (calls.pbx_missed_status) next to ours, call by call. Our verdicts
-- come from our rules (inbound_outcomes): a miss is open until the first conversation with its
-- client after it; an outgoing call is a call-back when its client had a miss still open at
-- most W before it. One client's calls are ordered by start, then uid, as in
-- inbound_outcomes_of. The PBX's verdict is as of when it was given (the last JSON fetch of
-- the call's day), so ours is taken as of that moment too: a miss closed after the PBX spoke
-- is no disagreement.
create or replace view pbx_missed_verdicts as
with settings as (
    select
        ks.tz,
        to_seconds(ks.recovery_window_s) as recovery_window
    from kpi_settings as ks
    limit 1
),

fetched as (
    -- when the PBX last answered for each local day's calls in JSON (replays keep the time)
    select
        lr.day as local_date,
        max(lr.fetched_at) as fetched_at
    from load_runs as lr
    where lr.kind = 'external' and lr.format = 'json' and lr.status in ('ok', 'partial')
    group by lr.day
),

judged as (
    select
        c.uid,
        c.client,
        c.started_at,
        (c.started_at at time zone s.tz)::date as local_date,
        c.direction,
        c.source,
        c.loaded_at,
        c.pbx_missed_status,
        coalesce(io.is_missed, false) as is_missed,
        io.next_contact_at,
        io.outcome,
        is_answered_call(c.direction, c.status)
        or is_callback_call(c.direction, c.status, c.duration_s) as is_conversation,
        s.recovery_window
    from calls as c
    cross join settings as s
    left join inbound_outcomes as io on io.uid = c.uid
    where c.client is not null and c.started_at is not null
),

speaking_days as (
    -- days the PBX gave verdicts on at all: there, an outgoing call without one is "not a
    -- call-back"; on other days (CSV, the spec's letter) the PBX said nothing
    select distinct j.local_date
    from judged as j
    where j.pbx_missed_status is not null
),

held_since as (
    -- a call-back answers a miss up to W before it: we judge only calls whose W we hold
    select min(j.started_at) + min(j.recovery_window) as judged_from
    from judged as j
),

epochs as (
    select
        j.*,
        coalesce(
            count_if(j.is_conversation) over (
                partition by j.client order by j.started_at, j.uid
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as conversations_before
    from judged as j
),

open_misses as (
    -- the latest miss before each call that no conversation has closed yet
    select
        e.*,
        max(case when e.is_missed then e.started_at end) over (
            partition by e.client, e.conversations_before order by e.started_at, e.uid
            rows between unbounded preceding and 1 preceding
        ) as open_miss_at
    from epochs as e
),

verdicts as (
    select
        om.uid,
        om.client,
        om.started_at,
        om.local_date,
        om.source,
        case when om.is_missed then 'miss' else 'outgoing' end as subject,
        om.pbx_missed_status,
        case
            when om.is_missed and om.pbx_missed_status in (3, 4) then 'open'
            when om.is_missed then 'closed'
            when om.pbx_missed_status = 2 then 'call_back'
            else 'not_call_back'
        end as pbx_verdict,
        case
            when om.source = 'webhook' then om.loaded_at else coalesce(f.fetched_at, om.loaded_at)
        end as verdict_at,
        om.outcome,
        om.next_contact_at,
        om.open_miss_at
    from open_misses as om
    left join fetched as f on f.local_date = om.local_date
    where
        (om.is_missed and om.pbx_missed_status is not null)
        or (
            om.direction = 'out'
            and om.local_date in (select sd.local_date from speaking_days as sd)
            and om.started_at >= (select hs.judged_from from held_since as hs)
        )
),

ours as (
    select
        v.*,
        case
            when v.subject = 'miss' and coalesce(v.next_contact_at < v.verdict_at, false)
                then 'closed'
            when v.subject = 'miss' then 'open'
            when v.open_miss_at >= v.started_at - s.recovery_window then 'call_back'
            else 'not_call_back'
        end as our_verdict
    from verdicts as v
    cross join settings as s
)

select
    o.uid,
    o.client,
    o.started_at,
    o.local_date,
    o.source,
    o.subject,
    o.pbx_missed_status,
    o.pbx_verdict,
    o.our_verdict,
    o.verdict_at,
    o.outcome,
    o.pbx_verdict = o.our_verdict as agrees
from ours as o;

comment on view pbx_missed_verdicts is 'The PBX''s own verdict on a call (calls.pbx_missed_status, its missedStatus) next to ours: every miss the PBX gave a verdict on, and every outgoing call of a day it gave verdicts on (from W after the first call held: before that, a miss it may answer is not ours to see). A second opinion only: missed_calls.outcome and every KPI follow our rules, which are documented, tunable (W, T_short in kpi_settings) and the same for every operator, while the meaning of missedStatus is what public integrations read into it (2 = a call-back to a missed client, 3 or 4 = a miss still open), not a documented contract. select * from pbx_missed_verdicts where not agrees shows where the two differ; data_quality counts them per day.';
comment on column pbx_missed_verdicts.subject is 'miss (an inbound call missed_calls lists) or outgoing (an outgoing call: a call-back or not).';
comment on column pbx_missed_verdicts.pbx_missed_status is 'missedStatus as the PBX delivered it (null on an outgoing call it did not mark).';
comment on column pbx_missed_verdicts.pbx_verdict is 'The PBX''s verdict as public integrations read it: for a miss open (3 or 4) or closed (any other value); for an outgoing call call_back (2) or not_call_back.';
comment on column pbx_missed_verdicts.our_verdict is 'Ours, as of verdict_at: a miss is open until the first conversation with its client after it (missed_calls.next_contact_at); an outgoing call is a call_back when its client had a miss no conversation had closed, at most W (kpi_settings.recovery_window_s) before it.';
comment on column pbx_missed_verdicts.verdict_at is 'When the PBX gave its verdict: the last JSON fetch of the call''s local day (load_runs.fetched_at), or, for a call only a webhook brought, when it arrived (calls.loaded_at).';
comment on column pbx_missed_verdicts.outcome is 'For a miss: missed_calls.outcome, as of the latest load (recovered, recovered_late, pending, lost); pending and lost are what the PBX calls open.';
comment on column pbx_missed_verdicts.agrees is 'pbx_verdict = our_verdict.';
comment on column pbx_missed_verdicts.uid is 'calls.uid.';
comment on column pbx_missed_verdicts.client is 'calls.client.';
comment on column pbx_missed_verdicts.started_at is 'calls.started_at (UTC).';
comment on column pbx_missed_verdicts.local_date is 'The call''s local day (kpi_settings.tz).';
comment on column pbx_missed_verdicts.source is 'calls.source: which feed last set the row.';
