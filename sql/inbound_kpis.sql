-- The call-center KPIs of inbound calls, defined once: every kpi_* view and the reports
-- aggregate through it, so a definition cannot drift between daily, weekly, per-number,
-- heatmap and report figures. A macro, not a relation: it is an aggregate over whatever
-- group the caller forms. The counts and rates of calls are inbound_counts', the rating
-- figures rating_kpis'; the times and the contacts are defined here.
-- The one-element list and its lambda only lay the figures out in the kpi_* views' column
-- order: each aggregate is named once, so it is planned once (reading a field of
-- inbound_counts(...) per column made every query ten times slower to plan).
create or replace macro inbound_kpis(
    is_short_abandon, is_answered, is_missed, is_within_service_level, is_repeat_caller,
    wait_s, duration_s, recovery, time_to_recovery_s, uid, lost_contact_id, rating, outcome
) as list_transform(
    [struct_pack(
        calls := inbound_counts(is_short_abandon, is_answered, is_missed, recovery, outcome),
        ratings := rating_kpis(rating),
        within_service_level := count(*) filter (where is_within_service_level),
        asa_s := avg(wait_s) filter (where is_answered),
        asa_p90_s := quantile_cont(wait_s, 0.9) filter (where is_answered),
        talk_mean_s := avg(duration_s) filter (where is_answered),
        talk_median_s := median(duration_s) filter (where is_answered),
        callback_median_s := median(time_to_recovery_s) filter (where recovery = 'callback'),
        callback_p90_s := quantile_cont(time_to_recovery_s, 0.9)
        filter (where recovery = 'callback'),
        lost_contacts := count(*) filter (where is_missed and uid = lost_contact_id),
        -- a contact's misses share their next conversation, so its first miss is lost
        -- exactly when the contact is: W is over and nobody has talked to the client since
        unreached_contacts := count(*) filter (
            where is_missed and uid = lost_contact_id and outcome = 'lost'
        ),
        repeat_callers := count(*) filter (where is_repeat_caller)
    )],
    lambda k: struct_pack(
        offered := k.calls.offered,
        short_abandons := k.calls.short_abandons,
        answered := k.calls.answered,
        missed := k.calls.missed,
        answer_rate := k.calls.answer_rate,
        service_level := k.within_service_level / nullif(k.calls.answerable, 0),
        asa_s := k.asa_s,
        asa_p90_s := k.asa_p90_s,
        talk_mean_s := k.talk_mean_s,
        talk_median_s := k.talk_median_s,
        recovered_callback := k.calls.recovered_callback,
        recovered_client := k.calls.recovered_client,
        not_called_back := k.calls.not_called_back,
        recovered_late := k.calls.recovered_late,
        lost := k.calls.lost,
        pending := k.calls.pending,
        callback_median_s := k.callback_median_s,
        callback_p90_s := k.callback_p90_s,
        lost_contacts := k.lost_contacts,
        unreached_contacts := k.unreached_contacts,
        repeat_caller_share := k.repeat_callers / k.calls.offered,
        rated_calls := k.ratings.rated_calls,
        rating_mean := k.ratings.rating_mean,
        csat_share := k.ratings.csat_share,
        recovered := k.calls.recovered,
        answerable := k.calls.answerable,
        missed_rate := k.calls.missed_rate,
        resolved_manually := k.calls.resolved_manually
    )
)[1];
