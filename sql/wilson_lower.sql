-- Lower bound of the 95 % Wilson score interval of the share successes / n: a fair score for
-- small samples (9 of 10 ranks below 90 of 100). Null without a sample (n = 0).
-- 1.959963984540054 is the two-sided 95 % quantile of the normal distribution.
create or replace macro wilson_lower(successes, n) as
    case
        when n > 0
            then (
                successes / n
                + 1.959963984540054 ^ 2 / (2 * n)
                - 1.959963984540054 * sqrt(
                    (successes / n) * (1 - successes / n) / n
                    + 1.959963984540054 ^ 2 / (4 * n ^ 2)
                )
            ) / (1 + 1.959963984540054 ^ 2 / n)
    end;
