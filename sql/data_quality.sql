create or replace view data_quality as
with settings as (
    select ks.tz from kpi_settings as ks limit 1
),

unknown_statuses as (
    select
        (c.started_at at time zone s.tz)::date as local_date,
        'external' as kind,
        c.source,
        c.status as detail,
        count(*) as rows,
        min(c.uid) as example
    from calls as c
    cross join settings as s
    where
        c.status
        not in ('success', 'missed', 'cancel', 'busy', 'notavailable', 'notallowed', 'notfound')
    group by all
    union all
    select
        (ic.started_at at time zone s.tz)::date as local_date,
        'internal' as kind,
        'api' as source,
        ic.status as detail,
        count(*) as rows,
        min(ic.uid) as example
    from internal_calls as ic
    cross join settings as s
    where ic.status not in ('success', 'noanswer', 'missed', 'cancel', 'busy')
    group by all
),

reasons as (
    -- quarantined rows that are still not loaded (a replay after a fix loads them)
    select
        lr.day as local_date,
        q.kind,
        'api_' || q.format as source,
        unnest(q.reasons) as reason
    from quarantine as q
    left join load_runs as lr on lr.chunk_id = q.chunk_id
    where not (
        q.uid is not null and (
            (q.kind = 'external' and q.uid in (select c.uid from calls as c))
            or (q.kind = 'internal' and q.uid in (select ic.uid from internal_calls as ic))
        )
    )
),

quarantined as (
    select
        r.local_date,
        r.kind,
        r.source,
        -- the reason without its values, so that one rule is one row
        regexp_replace(r.reason, '''[^'']*''|-?[0-9][0-9:TZ.+-]*', '…', 'g') as detail,
        count(*) as rows,
        min(r.reason) as example
    from reasons as r
    group by all
),

skipped as (
    select
        lr.day as local_date,
        'directory' as kind,
        'api_json' as source,
        lr.kind as detail,
        count(*) as rows,
        max(lr.error) as example
    from load_runs as lr
    where lr.status = 'skipped' and lr.kind not in ('external', 'internal')
    group by all
),

fallbacks as (
    -- a history format the account does not offer: its chunks were loaded in the other one
    select
        lr.day as local_date,
        lr.kind,
        'api_' || lr.format as source,
        lr.format || ' → ' || (case lr.format when 'json' then 'csv' else 'json' end) as detail,
        count(*) as rows,
        max(lr.error) as example
    from load_runs as lr
    where lr.status = 'skipped' and lr.kind in ('external', 'internal')
    group by all
),

pbx_disagreements as (
    -- where the PBX's own verdict (missedStatus) differs from ours
    select
        pv.local_date,
        'external' as kind,
        pv.source,
        pv.subject || ': pbx ' || pv.pbx_verdict || ', ours ' || pv.our_verdict as detail,
        count(*) as rows,
        min(pv.uid) as example
    from pbx_missed_verdicts as pv
    where not pv.agrees
    group by all
),

unknown_logins as (
    -- employees on calls whom no directory snapshot has listed (most often people who left
    -- before the first snapshot): the reports name them from the calls' own user_name
    select
        (max(c.started_at) at time zone s.tz)::date as local_date,
        'external' as kind,
        arg_max(c.source, c.started_at) as source,
        c.user_login as detail,
        count(*) as rows,
        coalesce(
            arg_max(c.user_name, c.started_at) filter (
                where nullif(trim(c.user_name), '') is not null
            ),
            min(c.uid)
        ) as example
    from calls as c
    cross join settings as s
    where
        c.user_login is not null
        and exists (select 1 from users_history as known)
        and c.user_login not in (select uh.user_login from users_history as uh)
    group by c.user_login, s.tz
),

latest_runs as (
    -- a day is re-read by later runs: its notes are those of the run that read it last
    select
        lr.kind,
        lr.format,
        lr.day,
        arg_max(lr.run_id, lr.finished_at) as run_id
    from load_runs as lr
    where lr.status in ('ok', 'partial') and lr.kind in ('external', 'internal')
    group by all
),

normalised as (
    select
        lr.day as local_date,
        lr.kind,
        'api_' || lr.format as source,
        ln.note as detail,
        sum(ln.rows)::bigint as rows,
        null::varchar as example
    from load_notes as ln
    inner join load_runs as lr on lr.chunk_id = ln.chunk_id
    inner join latest_runs as lt
        on lt.kind = lr.kind and lt.format = lr.format and lt.day = lr.day
        and lt.run_id = lr.run_id
    group by all
)

select u.local_date, u.kind, u.source, 'unknown_status' as issue, u.detail, u.rows, u.example
from unknown_statuses as u
union all
select q.local_date, q.kind, q.source, 'quarantined' as issue, q.detail, q.rows, q.example
from quarantined as q
union all
select s.local_date, s.kind, s.source, 'skipped_endpoint' as issue, s.detail, s.rows, s.example
from skipped as s
union all
select n.local_date, n.kind, n.source, 'normalised' as issue, n.detail, n.rows, n.example
from normalised as n
union all
select f.local_date, f.kind, f.source, 'format_fallback' as issue, f.detail, f.rows, f.example
from fallbacks as f
union all
select p.local_date, p.kind, p.source, 'pbx_disagrees' as issue, p.detail, p.rows, p.example
from pbx_disagreements as p
union all
select ul.local_date, ul.kind, ul.source, 'unknown_login' as issue, ul.detail, ul.rows, ul.example
from unknown_logins as ul;

comment on view data_quality is 'What the API sent that we did not expect, per local day (VATS_TZ) and source: one row per day, kind, source, issue and detail. Nothing here stopped a load: unknown statuses are loaded as delivered, quarantined rows wait in quarantine (until a replay after a fix loads them), a skipped directory endpoint leaves its entity''s versions open, normalised values are stored canonically, a history format the account lacks is replaced by the other one, where the PBX''s own missed-call verdict differs from ours, ours counts (pbx_missed_verdicts), and an employee the directory never listed is named from the calls.';
comment on column data_quality.local_date is 'Local day (VATS_TZ): of the call for unknown_status; of the chunk that delivered the row for quarantined and normalised; of the snapshot for skipped_endpoint; of the login''s latest call for unknown_login.';
comment on column data_quality.kind is 'external or internal history, or directory (snapshot endpoints).';
comment on column data_quality.source is 'The feed: api_json, api_csv, webhook (calls.source for unknown statuses; api for internal calls).';
comment on column data_quality.issue is 'unknown_status (a status outside the canonical list, loaded lower-cased as delivered), quarantined (rows rejected and not loaded since, one row per reason), skipped_endpoint (a directory endpoint the account does not offer: 404/405/501 or {"error": ...}), normalised (values stored in their canonical form: see load_notes.note), format_fallback (a history format the account does not offer: 404/405/501; the day was loaded in the other one, and so is every later day: history_format_fallbacks), pbx_disagrees (calls where the PBX''s missedStatus and our rules differ: pbx_missed_verdicts), unknown_login (an employee login on calls that no directory snapshot has listed, one row per login: the reports name them from the calls'' own user_name, see employee_names).';
comment on column data_quality.detail is 'The unknown status; the quarantine reason with its values replaced by …; the skipped entity (sims, blacklist, telnums, ...); the load_notes note; the format missing → the one loaded; what the PBX and we said (e.g. "miss: pbx open, ours closed"); the unknown login.';
comment on column data_quality.rows is 'Calls, quarantined rows (per reason), snapshots that skipped the endpoint, rows normalised, chunks that found a format missing, calls judged otherwise by the PBX, or calls with the unknown login, that day.';
comment on column data_quality.example is 'One instance: a call uid with the unknown status, a full quarantine reason, the skip''s or the fallback''s message, a call uid the PBX judged otherwise, or the name the calls carry for an unknown login (its first call''s uid when they carry none).';
