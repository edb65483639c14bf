create or replace view kpi_by_employee_weekly as
with outcomes as materialized (
    select * from inbound_outcomes
),

employee_calls as materialized (
    -- every call of an employee, inbound ones with their outcome: read once, used thrice
    select
        ce.uid,
        ce.week_start,
        ce.user_login,
        ce.user_name,
        ce.user_department,
        ce.direction,
        ce.status,
        ce.started_at,
        ce.wait_s,
        ce.duration_s,
        ce.rating,
        io.is_answered,
        io.is_short_abandon,
        io.is_missed,
        io.is_within_service_level,
        io.is_repeat_caller,
        io.recovery,
        io.time_to_recovery_s,
        io.lost_contact_id,
        io.outcome
    from calls_enriched as ce
    left join outcomes as io on io.uid = ce.uid
    where ce.user_login is not null and ce.started_at is not null
),

inbound as (
    select
        ic.week_start,
        ic.user_login,
        unnest(inbound_kpis(
            ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.is_within_service_level,
            ic.is_repeat_caller, ic.wait_s, ic.duration_s, ic.recovery, ic.time_to_recovery_s,
            ic.uid, ic.lost_contact_id, ic.rating, ic.outcome
        ))
    from employee_calls as ic
    where ic.direction = 'in'
    group by ic.week_start, ic.user_login
),

employee as (
    select
        ec.week_start,
        ec.user_login,
        arg_max(ec.user_name, ec.started_at) as user_name,
        arg_max(ec.user_department, ec.started_at) as user_department,
        count(*) filter (where ec.direction = 'out') as outbound_calls,
        count(*) filter (where ec.direction = 'out' and ec.status = 'success' and ec.duration_s > 0)
            as outbound_connected,
        sum(ec.duration_s) filter (where ec.direction = 'out' and ec.status = 'success')
            as outbound_talk_s
    from employee_calls as ec
    group by ec.week_start, ec.user_login
),

callbacks as (
    select
        date_trunc('week', timezone(ks.tz, io.recovered_at))::date as week_start,
        io.recovered_by_login as user_login,
        unnest(callback_kpis(io.recovery, io.time_to_recovery_s))
    from outcomes as io
    cross join kpi_settings as ks
    where io.recovery = 'callback' and io.recovered_by_login is not null
    group by date_trunc('week', timezone(ks.tz, io.recovered_at))::date, io.recovered_by_login
)

select
    ec.week_start,
    ec.user_login,
    ec.user_name,
    ec.user_department,
    coalesce(i.offered, 0) as offered,
    coalesce(i.short_abandons, 0) as short_abandons,
    coalesce(i.answered, 0) as answered,
    coalesce(i.missed, 0) as missed,
    i.answer_rate,
    i.service_level,
    i.asa_s,
    i.asa_p90_s,
    i.talk_mean_s,
    i.talk_median_s,
    coalesce(i.recovered_callback, 0) as recovered_callback,
    coalesce(i.recovered_client, 0) as recovered_client,
    coalesce(i.not_called_back, 0) as not_called_back,
    coalesce(i.recovered_late, 0) as recovered_late,
    coalesce(i.lost, 0) as lost,
    coalesce(i.pending, 0) as pending,
    i.callback_median_s,
    i.callback_p90_s,
    coalesce(i.lost_contacts, 0) as lost_contacts,
    coalesce(i.unreached_contacts, 0) as unreached_contacts,
    i.repeat_caller_share,
    coalesce(i.rated_calls, 0) as rated_calls,
    i.rating_mean,
    i.csat_share,
    ec.outbound_calls,
    ec.outbound_connected,
    coalesce(ec.outbound_talk_s, 0)::bigint as outbound_talk_s,
    coalesce(cb.callbacks_made, 0) as callbacks_made,
    cb.callbacks_made_median_s,
    coalesce(i.resolved_manually, 0) as resolved_manually
from employee as ec
left join inbound as i
    on i.week_start = ec.week_start and i.user_login = ec.user_login
left join callbacks as cb
    on cb.week_start = ec.week_start and cb.user_login = ec.user_login;

comment on view kpi_by_employee_weekly is 'Per local week and employee (calls.user_login): KPIs of the inbound calls delivered to the employee, their outbound work and the missed calls they recovered by calling back. Inbound calls that reached no employee are only in the department views. The call history names only the employee who answered, so offered here is mostly answered calls; who did not pick up is in missed_by_employee (from event webhooks).';
comment on column kpi_by_employee_weekly.week_start is 'Monday (local date) of the week.';
comment on column kpi_by_employee_weekly.user_name is 'The employee''s name on their last call of the week.';
comment on column kpi_by_employee_weekly.user_department is 'Department(s) the employee belonged to at their last call of the week.';
comment on column kpi_by_employee_weekly.outbound_calls is 'Outgoing external calls the employee made in the week.';
comment on column kpi_by_employee_weekly.outbound_connected is 'Of those, successful with duration > 0.';
comment on column kpi_by_employee_weekly.outbound_talk_s is 'Sum of duration_s of successful outgoing calls.';
comment on column kpi_by_employee_weekly.callbacks_made is 'Missed calls (of anyone) this employee recovered by a callback made in the week.';
comment on column kpi_by_employee_weekly.offered is 'Inbound calls delivered to the employee (short abandons included).';
comment on column kpi_by_employee_weekly.short_abandons is 'Unanswered inbound calls with wait_s < T_short (kpi_settings.short_abandon_s).';
comment on column kpi_by_employee_weekly.answered is 'Inbound calls with status success.';
comment on column kpi_by_employee_weekly.missed is 'Inbound calls neither answered nor short abandons (rows of missed_calls).';
comment on column kpi_by_employee_weekly.answer_rate is 'answered / (offered - short_abandons), 0..1, of the calls the history delivers to the employee: nearly always 1, since a missed call carries no employee (see missed_by_employee).';
comment on column kpi_by_employee_weekly.service_level is 'SL(N): answered with wait_s <= N (kpi_settings.service_level_s) / (offered - short_abandons), 0..1.';
comment on column kpi_by_employee_weekly.asa_s is 'Average speed of answer: mean wait_s of answered calls.';
comment on column kpi_by_employee_weekly.asa_p90_s is '90th percentile (linear interpolation) of wait_s of answered calls.';
comment on column kpi_by_employee_weekly.talk_mean_s is 'Mean duration_s of answered calls (duration as delivered by the PBX).';
comment on column kpi_by_employee_weekly.talk_median_s is 'Median duration_s of answered calls.';
comment on column kpi_by_employee_weekly.recovered_callback is 'Missed calls recovered by a callback within W (missed_calls.recovery = callback).';
comment on column kpi_by_employee_weekly.recovered_client is 'Missed calls recovered because the client called again within W and was answered.';
comment on column kpi_by_employee_weekly.not_called_back is 'Missed calls whose W ended without a recovery: recovered_late + lost (never the pending ones, nor those resolved manually). missed = recovered_callback + recovered_client + not_called_back + pending + resolved_manually.';
comment on column kpi_by_employee_weekly.recovered_late is 'Missed calls whose first conversation with the client (either direction) came after W (missed_calls.outcome = recovered_late).';
comment on column kpi_by_employee_weekly.lost is 'Missed calls whose W ended before the data cut-off with nobody talking to the client since (outcome = lost).';
comment on column kpi_by_employee_weekly.pending is 'Missed calls whose W had not ended at the data cut-off, client not reached yet (outcome = pending).';
comment on column kpi_by_employee_weekly.callback_median_s is 'Median time from the missed call to the callback that recovered it, seconds.';
comment on column kpi_by_employee_weekly.callback_p90_s is '90th percentile of that time (linear interpolation), seconds.';
comment on column kpi_by_employee_weekly.lost_contacts is 'Lost contacts that began here (their first miss is in this row): misses of one client before they talk count once, and the counts add up across rows.';
comment on column kpi_by_employee_weekly.unreached_contacts is 'Lost contacts that began here whose W ended before the data cut-off with nobody talking to the client since (their first miss has outcome lost): the contacts still to call back. Adds up across rows like lost_contacts.';
comment on column kpi_by_employee_weekly.repeat_caller_share is 'Share of offered calls whose number made >= 2 inbound calls within 7 days (inbound_calls.is_repeat_caller).';
comment on column kpi_by_employee_weekly.rated_calls is 'Inbound calls with a client rating (ratings without a loaded call are in ratings only).';
comment on column kpi_by_employee_weekly.rating_mean is 'Mean rating 1-5 of rated_calls; not rated is never a score.';
comment on column kpi_by_employee_weekly.csat_share is 'Share of rated_calls rated 4 or 5.';
comment on column kpi_by_employee_weekly.resolved_manually is 'Missed calls whose client was reached outside the PBX before anyone talked to them over it (outcome = resolved_manually, manual_resolutions): not called back, not lost.';
comment on column kpi_by_employee_weekly.callbacks_made_median_s is 'Median seconds from those misses to this employee''s callback that recovered them.';
comment on column kpi_by_employee_weekly.user_login is 'Login of the employee on the call (calls.user_login: user, or account when user is empty).';
