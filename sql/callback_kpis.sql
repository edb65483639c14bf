-- The callbacks an employee made, as a struct of figures: how many misses their callback
-- recovered within W, and the median time from the miss to it. An aggregate macro over the
-- misses (rows with recovery and time_to_recovery_s) the caller groups by the employee who
-- recovered them (recovered_by_login): kpi_by_employee_weekly and the reports' employee
-- table.
create or replace macro callback_kpis(recovery, time_to_recovery_s) as struct_pack(
    callbacks_made := count(*) filter (where recovery = 'callback'),
    callbacks_made_median_s := median(time_to_recovery_s) filter (where recovery = 'callback')
);
