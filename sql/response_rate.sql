-- How often clients rate: rated calls / answered calls (null without an answered call).
-- One definition for rating_by_employee and the reports' rating tiles.
create or replace macro response_rate(rated_calls, answered_calls) as
    rated_calls / nullif(answered_calls, 0);
