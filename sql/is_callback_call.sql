-- An outgoing call reached the client: success with a positive duration. One definition for
-- the KPI views and for what the outcome cache's refresh treats as a conversation.
create or replace macro is_callback_call(status, duration_s) as
    coalesce(status = 'success' and duration_s > 0, false);
