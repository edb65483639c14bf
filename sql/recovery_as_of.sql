-- A miss's recovery (callback / client_called_again, within W) as it was known at `as_of`:
-- null while the recovering call had not happened yet. With miss_outcome, what a report
-- reads for the week before at the same age as its own week.
create or replace macro recovery_as_of(recovery, recovered_at, as_of) as
    case when recovered_at <= as_of then recovery end;
