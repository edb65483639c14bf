-- A dissatisfied client: rated the call 1 or 2 (DSAT). One definition for ratings.is_dsat and
-- rating_kpis.
create or replace macro is_dsat_rating(rating) as
    rating <= 2;
