create or replace view kpi_daily as
select
    ic.local_date,
    ic.department,
    ic.hours,
    grouping(ic.department) = 1 as is_total,
    ic.segment,
    ic.segment = 'in_hours' as is_headline,
    unnest(inbound_kpis(
        ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.is_within_service_level,
        ic.is_repeat_caller, ic.wait_s, ic.duration_s, ic.recovery, ic.time_to_recovery_s,
        ic.uid, ic.lost_contact_id, ic.rating, ic.outcome
    ))
from inbound_calls as ic
group by grouping sets (
    (ic.local_date, ic.department, ic.hours, ic.segment), (ic.local_date, ic.hours, ic.segment)
);

comment on view kpi_daily is 'Call-center KPIs of inbound external calls per local day (kpi_settings.tz), department and hours (in_hours / after_hours), plus total rows per day and segment (department null, is_total); every column is defined once by the macro inbound_kpis (docs/metrics.md), its parameters in kpi_settings. The headline figures — the dashboards'' and the emails'' tiles — are the rows where is_headline: a department''s own row, and for every department together the total row (is_total and is_headline). Add up every row of a day (or its total rows) for all its calls.';
comment on column kpi_daily.local_date is 'Local day of the calls.';
comment on column kpi_daily.department is 'calls_enriched.department; null on the total row.';
comment on column kpi_daily.is_total is 'True on the rows that add up every department of the day, one per segment (in_hours, unrouted, after_hours): together they count every call of the day once.';
comment on column kpi_daily.segment is 'inbound_calls.segment of the row''s calls: in_hours (working hours, a department took the call), unrouted (working hours, no department: the rows of ''Без отдела'') or after_hours.';
comment on column kpi_daily.is_headline is 'segment = in_hours: the rows the headline tiles show. A department''s tiles are its is_headline row; the company''s, the row where is_total and is_headline (every department in working hours, without the calls that reached none).';
comment on column kpi_daily.hours is 'in_hours or after_hours (inbound_calls.hours): each row counts one of the two; add both for every call.';
comment on column kpi_daily.offered is 'Inbound calls (short abandons included).';
comment on column kpi_daily.short_abandons is 'Unanswered inbound calls with wait_s < T_short (kpi_settings.short_abandon_s).';
comment on column kpi_daily.answered is 'Inbound calls with status success.';
comment on column kpi_daily.missed is 'Inbound calls neither answered nor short abandons (rows of missed_calls).';
comment on column kpi_daily.answer_rate is 'answered / (offered - short_abandons), 0..1.';
comment on column kpi_daily.service_level is 'SL(N): answered with wait_s <= N (kpi_settings.service_level_s) / (offered - short_abandons), 0..1.';
comment on column kpi_daily.asa_s is 'Average speed of answer: mean wait_s of answered calls.';
comment on column kpi_daily.asa_p90_s is '90th percentile (linear interpolation) of wait_s of answered calls.';
comment on column kpi_daily.talk_mean_s is 'Mean duration_s of answered calls (duration as delivered by the PBX).';
comment on column kpi_daily.talk_median_s is 'Median duration_s of answered calls.';
comment on column kpi_daily.recovered_callback is 'Missed calls recovered by a callback within W (missed_calls.recovery = callback).';
comment on column kpi_daily.recovered_client is 'Missed calls recovered because the client called again within W and was answered.';
comment on column kpi_daily.not_called_back is 'Missed calls whose W ended without a recovery: recovered_late + lost (never the pending ones, nor those resolved manually). missed = recovered_callback + recovered_client + not_called_back + pending + resolved_manually.';
comment on column kpi_daily.recovered_late is 'Missed calls whose first conversation with the client (either direction) came after W (missed_calls.outcome = recovered_late).';
comment on column kpi_daily.lost is 'Missed calls whose W ended before the data cut-off with nobody talking to the client since (outcome = lost).';
comment on column kpi_daily.pending is 'Missed calls whose W had not ended at the data cut-off, client not reached yet (outcome = pending).';
comment on column kpi_daily.callback_median_s is 'Median time from the missed call to the callback that recovered it, seconds.';
comment on column kpi_daily.callback_p90_s is '90th percentile of that time (linear interpolation), seconds.';
comment on column kpi_daily.lost_contacts is 'Lost contacts that began here (their first miss is in this row): misses of one client before they talk count once, and the counts add up across rows.';
comment on column kpi_daily.unreached_contacts is 'Lost contacts that began here whose W ended before the data cut-off with nobody talking to the client since (their first miss has outcome lost): the contacts still to call back. Adds up across rows like lost_contacts.';
comment on column kpi_daily.repeat_caller_share is 'Share of offered calls whose number made >= 2 inbound calls within 7 days (inbound_calls.is_repeat_caller).';
comment on column kpi_daily.rated_calls is 'Inbound calls with a client rating (ratings without a loaded call are in ratings only).';
comment on column kpi_daily.rating_mean is 'Mean rating 1-5 of rated_calls; not rated is never a score.';
comment on column kpi_daily.csat_share is 'Share of rated_calls rated 4 or 5.';
comment on column kpi_daily.recovered is 'Missed calls recovered within W, either way: recovered_callback + recovered_client.';
comment on column kpi_daily.answerable is 'offered - short_abandons: the calls every share of calls here is a share of.';
comment on column kpi_daily.missed_rate is 'missed / (offered - short_abandons), 0..1.';
comment on column kpi_daily.resolved_manually is 'Missed calls whose client was reached outside the PBX before anyone talked to them over it (outcome = resolved_manually, manual_resolutions): not called back, not lost.';
