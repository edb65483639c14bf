"""The README's analyst queries (docs/analyst-queries.sql) take the last complete week before
the latest loaded call: they answer on any weekday, a Monday morning included (the week
that has just begun is not "last week")."""

from __future__ import annotations

import duckdb
import pytest

from tests.support.kpi_truth import analyst_queries
from tests.support.warehouse_rows import DAY, HOUR, MIN, T0, call, insert_calls, miss

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@pytest.mark.parametrize("weekday", range(7), ids=WEEKDAYS)
def test_every_query_answers_whatever_the_weekday(
    con: duckdb.DuckDBPyConnection, weekday: int
) -> None:
    # week 2024-W10 (T0 = Monday 4 March, 12:00 Moscow): rated answers and a miss on Tuesday
    # that nobody ever called back; the data then ends on `weekday` of the next week, 06:00
    rated = [
        call(f"r{i}", client=f"7900000{i:04d}", user_login="u1", user_name="Иванов",
             started_at=T0 + i * MIN, rating=5)
        for i in range(10)
    ]  # fmt: skip
    insert_calls(
        con,
        [
            *rated,
            miss("lost", client="79001234567", started_at=T0 + DAY),
            # a miss of the week just begun: pending, and not last week's
            miss("fresh", client="79007654321", started_at=T0 + (7 + weekday) * DAY - 7 * HOUR),
            call("last", client="79009999999", started_at=T0 + (7 + weekday) * DAY - 6 * HOUR),
        ],
    )
    queries = analyst_queries()
    for sql in queries:
        title = [line for line in sql.splitlines() if line.startswith("-- ")][-1]
        assert con.sql(sql).fetchall(), f"no rows on {WEEKDAYS[weekday]} for {title}"
    whom = con.sql(queries[0]).fetchall()
    assert [row[0] for row in whom] == ["79001234567"]
    assert whom[0][1] == T0 + DAY
