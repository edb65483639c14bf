-- Enough ratings to rank an employee by them: at least kpi_settings.min_rating_sample.
-- One definition for rating_by_employee and the reports' employee table.
create or replace macro is_ranked_sample(rated_calls) as
    rated_calls >= (select ks.min_rating_sample from kpi_settings as ks limit 1);
