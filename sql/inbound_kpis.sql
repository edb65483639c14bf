-- The call-center KPIs of inbound calls, defined once: every kpi_* view and the reports
-- aggregate through it, so a definition cannot drift between daily, weekly, per-number,
-- heatmap and report figures. A macro, not a relation: it is an aggregate over whatever
-- group the caller forms.
-- Misses add up: missed = recovered + not_called_back + pending,
-- recovered = recovered_callback + recovered_client, not_called_back = recovered_late + lost.
-- Shares of calls are of the calls a person could answer: answerable = offered - short_abandons.
create or replace macro inbound_kpis(
    is_short_abandon, is_answered, is_missed, is_within_service_level, is_repeat_caller,
    wait_s, duration_s, recovery, time_to_recovery_s, uid, lost_contact_id, rating, outcome
) as struct_pack(
    offered := count(*),
    short_abandons := count(*) filter (where is_short_abandon),
    answered := count(*) filter (where is_answered),
    missed := count(*) filter (where is_missed),
    answer_rate := count(*) filter (where is_answered)
    / nullif(count(*) filter (where not is_short_abandon), 0),
    service_level := count(*) filter (where is_within_service_level)
    / nullif(count(*) filter (where not is_short_abandon), 0),
    asa_s := avg(wait_s) filter (where is_answered),
    asa_p90_s := quantile_cont(wait_s, 0.9) filter (where is_answered),
    talk_mean_s := avg(duration_s) filter (where is_answered),
    talk_median_s := median(duration_s) filter (where is_answered),
    recovered_callback := count(*) filter (where recovery = 'callback'),
    recovered_client := count(*) filter (where recovery = 'client_called_again'),
    -- W over without a recovery: reached late or still lost (never the pending ones)
    not_called_back := count(*) filter (where is_not_called_back(outcome)),
    recovered_late := count(*) filter (where outcome = 'recovered_late'),
    lost := count(*) filter (where outcome = 'lost'),
    pending := count(*) filter (where outcome = 'pending'),
    callback_median_s := median(time_to_recovery_s) filter (where recovery = 'callback'),
    callback_p90_s := quantile_cont(time_to_recovery_s, 0.9) filter (where recovery = 'callback'),
    lost_contacts := count(*) filter (where is_missed and uid = lost_contact_id),
    -- a contact's misses share their next conversation, so its first miss is lost exactly
    -- when the contact is: W is over and nobody has talked to the client since
    unreached_contacts := count(*) filter (
        where is_missed and uid = lost_contact_id and outcome = 'lost'
    ),
    repeat_caller_share := count(*) filter (where is_repeat_caller) / count(*),
    rated_calls := rating_kpis(rating).rated_calls,
    rating_mean := rating_kpis(rating).rating_mean,
    csat_share := rating_kpis(rating).csat_share,
    recovered := count(*) filter (where recovery is not null),
    answerable := count(*) filter (where not is_short_abandon),
    missed_rate := count(*) filter (where is_missed)
    / nullif(count(*) filter (where not is_short_abandon), 0)
);
