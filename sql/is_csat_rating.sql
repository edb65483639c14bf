-- A satisfied client: rated the call 4 or 5 (CSAT). One definition for ratings.is_csat,
-- rating_kpis and inbound_kpis.
create or replace macro is_csat_rating(rating) as
    rating >= 4;
