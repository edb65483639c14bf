-- The client-rating KPIs of a group of calls, defined once: rating_by_employee, inbound_kpis
-- and the reports aggregate through it. An aggregate macro over whatever group the caller
-- forms; a call without a rating counts nowhere (not rated is never a score).
create or replace macro rating_kpis(rating) as struct_pack(
    rated_calls := count(rating),
    rating_mean := avg(rating),
    csat_calls := count(*) filter (where is_csat_rating(rating)),
    dsat_calls := count(*) filter (where is_dsat_rating(rating)),
    csat_share := count(*) filter (where is_csat_rating(rating)) / nullif(count(rating), 0),
    dsat_share := count(*) filter (where is_dsat_rating(rating)) / nullif(count(rating), 0),
    csat_wilson_lower := wilson_lower(count(*) filter (where is_csat_rating(rating)), count(rating))
);
