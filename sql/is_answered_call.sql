-- An inbound call that was answered: status success (a null status is not an answer). One
-- definition for inbound_outcomes_of and for what the outcome cache's refresh treats as a
-- conversation.
create or replace macro is_answered_call(direction, status) as
    direction = 'in' and coalesce(status = 'success', false);
