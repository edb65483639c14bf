-- A miss whose recovery window W ended without a conversation: the client was reached only
-- after W (recovered_late) or not at all (lost). Never a pending miss, whose W is still open.
-- One definition for inbound_kpis (not_called_back) and every query that lists such misses.
create or replace macro is_not_called_back(outcome) as
    coalesce(outcome in ('recovered_late', 'lost'), false);
