-- An inbound call was answered: status success (a null status is not an answer). One
-- definition for the KPI views and for what the outcome cache's refresh treats as a conversation.
create or replace macro is_answered_call(status) as coalesce(status = 'success', false);
