-- Where a miss stands at the instant `as_of`, one definition for every age: missed_calls
-- judges each miss at the data cut-off; a report judges the week before at the same age as
-- its own week (the same time after its end), so that both had as long to be called back.
-- recovered: its recovery (within W) came by as_of; recovered_late: the first conversation,
-- in either direction, came after W but by as_of (and before any manual resolution);
-- resolved_manually: a manual_resolutions row of the client after the miss, by as_of;
-- pending: W has not ended at as_of (its end included); lost: W ended, nobody talked to the
-- client. Null for a call that is not a miss.
create or replace macro miss_outcome(
    is_missed, recovered_at, next_contact_at, resolved_at, recovery_deadline_at, as_of
) as
    case
        when not is_missed then null
        when recovered_at <= as_of then 'recovered'
        when next_contact_at <= as_of and not coalesce(resolved_at < next_contact_at, false)
            then 'recovered_late'
        when resolved_at <= as_of then 'resolved_manually'
        when recovery_deadline_at >= as_of then 'pending'
        else 'lost'
    end;
