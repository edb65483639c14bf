-- When a directory version starts counting for enrichment: calls made before the first
-- snapshot ever taken get the first version seen, so the earliest snapshot's versions reach
-- back to -infinity. A window macro: use it over a whole *_history table.
create or replace macro scd2_version_from(valid_from) as
    case
        when valid_from = min(valid_from) over () then '-infinity'::timestamptz
        else valid_from
    end;
