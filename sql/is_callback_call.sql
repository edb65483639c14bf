-- An outgoing call that reached the client: success with a positive duration. One definition
-- for inbound_outcomes_of and for what the outcome cache's refresh treats as a conversation.
create or replace macro is_callback_call(direction, status, duration_s) as
    direction = 'out' and coalesce(status = 'success' and duration_s > 0, false);
