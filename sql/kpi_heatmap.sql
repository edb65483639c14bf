create or replace view kpi_heatmap as
select
    ic.week_start,
    ic.department,
    ic.hours,
    grouping(ic.department) = 1 as is_total,
    ic.segment,
    ic.segment = 'in_hours' as is_headline,
    ic.weekday,
    ic.local_hour,
    unnest(inbound_kpis(
        ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.is_within_service_level,
        ic.is_repeat_caller, ic.wait_s, ic.duration_s, ic.recovery, ic.time_to_recovery_s,
        ic.uid, ic.lost_contact_id, ic.rating, ic.outcome
    ))
from inbound_calls as ic
group by grouping sets (
    (ic.week_start, ic.department, ic.hours, ic.segment, ic.weekday, ic.local_hour),
    (ic.week_start, ic.hours, ic.segment, ic.weekday, ic.local_hour)
);

comment on view kpi_heatmap is 'Call-center KPIs per local week, weekday, hour of the day (kpi_settings.tz), hours (in_hours / after_hours) and segment, per department and in total (department null, is_total): the weekday x hour heatmap. The dashboards'' and the emails'' heatmap cells are the rows where is_headline (the total rows for every department). Cells without calls have no row; an hour the schedule splits has a row of each. To span several weeks sum the counts, do not average the rates.';
comment on column kpi_heatmap.segment is 'inbound_calls.segment of the row''s calls: in_hours, unrouted (working hours, no department) or after_hours.';
comment on column kpi_heatmap.is_headline is 'segment = in_hours: the rows the heatmaps of the dashboards and the emails colour (for every department: is_total and is_headline).';
comment on column kpi_heatmap.week_start is 'Monday (local date) of the week.';
comment on column kpi_heatmap.department is 'calls_enriched.department; null on total rows.';
comment on column kpi_heatmap.is_total is 'True on rows that add up every department.';
comment on column kpi_heatmap.weekday is 'Local ISO weekday: 1 = Monday ... 7 = Sunday.';
comment on column kpi_heatmap.local_hour is 'Local hour of the call start, 0-23.';
comment on column kpi_heatmap.hours is 'in_hours or after_hours (inbound_calls.hours): each row counts one of the two; add both for every call.';
comment on column kpi_heatmap.offered is 'Inbound calls (short abandons included).';
comment on column kpi_heatmap.short_abandons is 'Unanswered inbound calls with wait_s < T_short (kpi_settings.short_abandon_s).';
comment on column kpi_heatmap.answered is 'Inbound calls with status success.';
comment on column kpi_heatmap.missed is 'Inbound calls neither answered nor short abandons (rows of missed_calls).';
comment on column kpi_heatmap.answer_rate is 'answered / (offered - short_abandons), 0..1.';
comment on column kpi_heatmap.service_level is 'SL(N): answered with wait_s <= N (kpi_settings.service_level_s) / (offered - short_abandons), 0..1.';
comment on column kpi_heatmap.asa_s is 'Average speed of answer: mean wait_s of answered calls.';
comment on column kpi_heatmap.asa_p90_s is '90th percentile (linear interpolation) of wait_s of answered calls.';
comment on column kpi_heatmap.talk_mean_s is 'Mean duration_s of answered calls (duration as delivered by the PBX).';
comment on column kpi_heatmap.talk_median_s is 'Median duration_s of answered calls.';
comment on column kpi_heatmap.recovered_callback is 'Missed calls recovered by a callback within W (missed_calls.recovery = callback).';
comment on column kpi_heatmap.recovered_client is 'Missed calls recovered because the client called again within W and was answered.';
comment on column kpi_heatmap.not_called_back is 'Missed calls whose W ended without a recovery: recovered_late + lost (never the pending ones, nor those resolved manually). missed = recovered_callback + recovered_client + not_called_back + pending + resolved_manually.';
comment on column kpi_heatmap.recovered_late is 'Missed calls whose first conversation with the client (either direction) came after W (missed_calls.outcome = recovered_late).';
comment on column kpi_heatmap.lost is 'Missed calls whose W ended before the data cut-off with nobody talking to the client since (outcome = lost).';
comment on column kpi_heatmap.pending is 'Missed calls whose W had not ended at the data cut-off, client not reached yet (outcome = pending).';
comment on column kpi_heatmap.callback_median_s is 'Median time from the missed call to the callback that recovered it, seconds.';
comment on column kpi_heatmap.callback_p90_s is '90th percentile of that time (linear interpolation), seconds.';
comment on column kpi_heatmap.lost_contacts is 'Lost contacts that began here (their first miss is in this row): misses of one client before they talk count once, and the counts add up across rows.';
comment on column kpi_heatmap.unreached_contacts is 'Lost contacts that began here whose W ended before the data cut-off with nobody talking to the client since (their first miss has outcome lost): the contacts still to call back. Adds up across rows like lost_contacts.';
comment on column kpi_heatmap.repeat_caller_share is 'Share of offered calls whose number made >= 2 inbound calls within 7 days (inbound_calls.is_repeat_caller).';
comment on column kpi_heatmap.rated_calls is 'Inbound calls with a client rating (ratings without a loaded call are in ratings only).';
comment on column kpi_heatmap.rating_mean is 'Mean rating 1-5 of rated_calls; not rated is never a score.';
comment on column kpi_heatmap.csat_share is 'Share of rated_calls rated 4 or 5.';
comment on column kpi_heatmap.recovered is 'Missed calls recovered within W, either way: recovered_callback + recovered_client.';
comment on column kpi_heatmap.answerable is 'offered - short_abandons: the calls every share of calls here is a share of.';
comment on column kpi_heatmap.missed_rate is 'missed / (offered - short_abandons), 0..1.';
comment on column kpi_heatmap.resolved_manually is 'Missed calls whose client was reached outside the PBX before anyone talked to them over it (outcome = resolved_manually, manual_resolutions): not called back, not lost.';
