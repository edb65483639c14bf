create or replace view kpi_by_number_weekly as
select
    ic.week_start,
    ic.diversion,
    ic.hours,
    ic.segment,
    ic.segment = 'in_hours' as is_headline,
    unnest(inbound_kpis(
        ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.is_within_service_level,
        ic.is_repeat_caller, ic.wait_s, ic.duration_s, ic.recovery, ic.time_to_recovery_s,
        ic.uid, ic.lost_contact_id, ic.rating, ic.outcome
    ))
from inbound_calls as ic
group by ic.week_start, ic.diversion, ic.hours, ic.segment;

comment on view kpi_by_number_weekly is 'Call-center KPIs per local week, number dialled (calls.diversion), hours (in_hours / after_hours) and segment: which of our numbers lose calls. The tables by number of the dashboards and the emails are the rows where is_headline. Route details of each number are in telnums / telnums_history.';
comment on column kpi_by_number_weekly.segment is 'inbound_calls.segment of the row''s calls: in_hours, unrouted (working hours, no department) or after_hours.';
comment on column kpi_by_number_weekly.is_headline is 'segment = in_hours: the rows the tables by number of the dashboards and the emails show.';
comment on column kpi_by_number_weekly.week_start is 'Monday (local date) of the week.';
comment on column kpi_by_number_weekly.diversion is 'Our number the calls came in on (null when the PBX did not report it).';
comment on column kpi_by_number_weekly.hours is 'in_hours or after_hours (inbound_calls.hours): each row counts one of the two; add both for every call.';
comment on column kpi_by_number_weekly.offered is 'Inbound calls (short abandons included).';
comment on column kpi_by_number_weekly.short_abandons is 'Unanswered inbound calls with wait_s < T_short (kpi_settings.short_abandon_s).';
comment on column kpi_by_number_weekly.answered is 'Inbound calls with status success.';
comment on column kpi_by_number_weekly.missed is 'Inbound calls neither answered nor short abandons (rows of missed_calls).';
comment on column kpi_by_number_weekly.answer_rate is 'answered / (offered - short_abandons), 0..1.';
comment on column kpi_by_number_weekly.service_level is 'SL(N): answered with wait_s <= N (kpi_settings.service_level_s) / (offered - short_abandons), 0..1.';
comment on column kpi_by_number_weekly.asa_s is 'Average speed of answer: mean wait_s of answered calls.';
comment on column kpi_by_number_weekly.asa_p90_s is '90th percentile (linear interpolation) of wait_s of answered calls.';
comment on column kpi_by_number_weekly.talk_mean_s is 'Mean duration_s of answered calls (duration as delivered by the PBX).';
comment on column kpi_by_number_weekly.talk_median_s is 'Median duration_s of answered calls.';
comment on column kpi_by_number_weekly.recovered_callback is 'Missed calls recovered by a callback within W (missed_calls.recovery = callback).';
comment on column kpi_by_number_weekly.recovered_client is 'Missed calls recovered because the client called again within W and was answered.';
comment on column kpi_by_number_weekly.not_called_back is 'Missed calls whose W ended without a recovery: recovered_late + lost (never the pending ones, nor those resolved manually). missed = recovered_callback + recovered_client + not_called_back + pending + resolved_manually.';
comment on column kpi_by_number_weekly.recovered_late is 'Missed calls whose first conversation with the client (either direction) came after W (missed_calls.outcome = recovered_late).';
comment on column kpi_by_number_weekly.lost is 'Missed calls whose W ended before the data cut-off with nobody talking to the client since (outcome = lost).';
comment on column kpi_by_number_weekly.pending is 'Missed calls whose W had not ended at the data cut-off, client not reached yet (outcome = pending).';
comment on column kpi_by_number_weekly.callback_median_s is 'Median time from the missed call to the callback that recovered it, seconds.';
comment on column kpi_by_number_weekly.callback_p90_s is '90th percentile of that time (linear interpolation), seconds.';
comment on column kpi_by_number_weekly.lost_contacts is 'Lost contacts that began here (their first miss is in this row): misses of one client before they talk count once, and the counts add up across rows.';
comment on column kpi_by_number_weekly.unreached_contacts is 'Lost contacts that began here whose W ended before the data cut-off with nobody talking to the client since (their first miss has outcome lost): the contacts still to call back. Adds up across rows like lost_contacts.';
comment on column kpi_by_number_weekly.repeat_caller_share is 'Share of offered calls whose number made >= 2 inbound calls within 7 days (inbound_calls.is_repeat_caller).';
comment on column kpi_by_number_weekly.rated_calls is 'Inbound calls with a client rating (ratings without a loaded call are in ratings only).';
comment on column kpi_by_number_weekly.rating_mean is 'Mean rating 1-5 of rated_calls; not rated is never a score.';
comment on column kpi_by_number_weekly.csat_share is 'Share of rated_calls rated 4 or 5.';
comment on column kpi_by_number_weekly.recovered is 'Missed calls recovered within W, either way: recovered_callback + recovered_client.';
comment on column kpi_by_number_weekly.answerable is 'offered - short_abandons: the calls every share of calls here is a share of.';
comment on column kpi_by_number_weekly.missed_rate is 'missed / (offered - short_abandons), 0..1.';
comment on column kpi_by_number_weekly.resolved_manually is 'Missed calls whose client was reached outside the PBX before anyone talked to them over it (outcome = resolved_manually, manual_resolutions): not called back, not lost.';
