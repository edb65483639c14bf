-- The department a call counts for, one rule for calls_enriched and the working-time
-- recovery window: the call's own group_name (the PBX named the department it rang), else
-- the department(s) its employee belonged to at the call's start (user_department_spans),
-- else 'Без отдела'.
create or replace macro call_department(group_name, user_department) as
    coalesce(group_name, user_department, 'Без отдела');
