-- The recordings our reports point a manager to, one row per call: what `vats-etl
-- recordings` (and `daily` with VATS_RECORDINGS=reported) copies before the links expire.
create or replace view reported_recordings as
with settings as (
    select ks.tz from kpi_settings as ks limit 1
),

pointed as (
    -- a call rated 1 or 2: the list a manager works through
    select
        lr.uid,
        'low_rating' as reason
    from low_ratings as lr
    union all
    -- a lost client's voicemail: what the client wanted
    select
        mc.uid,
        'lost_client' as reason
    from missed_calls as mc
    where mc.outcome = 'lost'
    union all
    -- the call-back that reached a client too late (after W): how the lost client was won back
    select
        c.uid,
        'late_call_back' as reason
    from missed_calls as mc
    inner join calls as c
        on c.client = mc.client and c.started_at = mc.next_contact_at
    where mc.outcome = 'recovered_late'
)

select
    c.uid,
    c.started_at,
    (c.started_at at time zone s.tz)::date as local_date,
    c.record_url,
    list(distinct p.reason order by p.reason) as reasons
from pointed as p
inner join calls as c on c.uid = p.uid
cross join settings as s
where c.record_url is not null
group by all;

comment on view reported_recordings is 'The recordings our reports point to, one row per call: calls rated 1 or 2 (low_ratings), a lost client''s voicemail (missed_calls where outcome = lost), and the call-back that reached a client only after W (outcome = recovered_late). What vats-etl recordings copies by default, and daily with VATS_RECORDINGS=reported, before the PBX''s links expire.';
comment on column reported_recordings.uid is 'calls.uid of the recorded call.';
comment on column reported_recordings.started_at is 'calls.started_at (UTC).';
comment on column reported_recordings.local_date is 'The call''s local day (kpi_settings.tz): the folder its copy goes to.';
comment on column reported_recordings.record_url is 'The PBX''s link to the recording (calls.record_url).';
comment on column reported_recordings.reasons is 'Why a report points to it: low_rating, lost_client, late_call_back.';
