-- The place of an employee among the ranked ones (is_ranked_sample): 1 = the best Wilson
-- lower bound of the CSAT share, ties share a place; null for a sample too small to rank.
-- A window macro: use it over the whole set of employees being compared.
create or replace macro rating_rank(csat_wilson_lower, is_ranked) as
    case
        when is_ranked
            then rank() over (partition by is_ranked order by csat_wilson_lower desc)
    end;
