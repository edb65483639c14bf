-- How many inbound calls of a group were answered, missed or abandoned at once, and what
-- became of the misses, defined once: inbound_kpis takes these from here, and the reports'
-- tables of counts (by day, hour, segment, department, number, reason) aggregate with it
-- when they need no times (the medians and percentiles of inbound_kpis cost more).
-- An aggregate macro over whatever group the caller forms.
-- Misses add up: missed = recovered + not_called_back + pending + resolved_manually,
-- recovered = recovered_callback + recovered_client, not_called_back = recovered_late + lost.
-- Shares of calls are of the calls a person could answer: answerable = offered - short_abandons.
create or replace macro inbound_counts(
    is_short_abandon, is_answered, is_missed, recovery, outcome
) as struct_pack(
    offered := count(*),
    short_abandons := count(*) filter (where is_short_abandon),
    answered := count(*) filter (where is_answered),
    missed := count(*) filter (where is_missed),
    answerable := count(*) filter (where not is_short_abandon),
    answer_rate := count(*) filter (where is_answered)
    / nullif(count(*) filter (where not is_short_abandon), 0),
    missed_rate := count(*) filter (where is_missed)
    / nullif(count(*) filter (where not is_short_abandon), 0),
    recovered_callback := count(*) filter (where recovery = 'callback'),
    recovered_client := count(*) filter (where recovery = 'client_called_again'),
    recovered := count(*) filter (where recovery is not null),
    -- W over without a recovery: reached late or still lost (never the pending ones)
    not_called_back := count(*) filter (where is_not_called_back(outcome)),
    recovered_late := count(*) filter (where outcome = 'recovered_late'),
    lost := count(*) filter (where outcome = 'lost'),
    pending := count(*) filter (where outcome = 'pending'),
    -- reached outside the PBX (manual_resolutions): neither recovered nor called back
    resolved_manually := count(*) filter (where outcome = 'resolved_manually')
);
