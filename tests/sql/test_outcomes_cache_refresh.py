"""The outcome cache refreshed incrementally equals the outcomes computed from scratch.

Random call streams for a few clients (dense, so recoveries, repeat callers and long runs of
misses cross the zone boundaries), a full refresh, then a second load that appends days,
fills gaps in the past, and changes calls (status, start, client) through the real MERGE;
the incremental refresh must give exactly what recomputing everything gives.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import duckdb
import polars as pl
import pytest

from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    LOADED_AT,
    T0,
    call,
    callback,
    fresh,
    miss,
    set_kpi,
)
from vats_etl import warehouse
from vats_etl.parse import CALL_SCHEMA

# a dozen frequent callers and many rare ones (days between calls: repeat-caller edges)
CLIENTS = [f"7900000{i:04d}" for i in range(12)]
RARE_CLIENTS = [f"7911111{i:04d}" for i in range(40)]
OUTCOME_COLUMNS = "*"


def random_call(rng: random.Random, uid: str, first_day: int, days: int) -> dict[str, Any]:
    direction = rng.choice(["in", "in", "in", "out"])
    return call(
        uid,
        direction=direction,
        status=rng.choice(["success", "success", "missed", "cancel", "busy", None]),
        client=rng.choices([None, *RARE_CLIENTS, *CLIENTS], [1, *[0.25] * 40, *[1.5] * 12])[0],
        started_at=T0 + (first_day + rng.random() * days) * DAY,
        wait_s=rng.choice([0, 3, 10, 30, 90, None]),
        duration_s=rng.choice([0, 0, 20, 300]),
    )


def load(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], hours: int) -> None:
    frame = pl.DataFrame(rows, schema=CALL_SCHEMA, orient="row")
    warehouse.upsert(con, "calls", frame, LOADED_AT + timedelta(hours=hours))


def cached(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.sql("select * from inbound_outcomes_cache order by uid").fetchall()


def from_scratch(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.sql(
        f"select {OUTCOME_COLUMNS} from inbound_outcomes_of(calls, kpi_settings) order by uid"
    ).fetchall()


@pytest.mark.parametrize(
    ("seed", "basis"),
    [*((seed, "calendar") for seed in range(25)), *((seed, "working") for seed in range(8))],
)
def test_incremental_refresh_equals_recomputing(seed: int, basis: str) -> None:
    rng = random.Random(seed)
    con = fresh()
    # small windows, so that a 40-day stream has many zone boundaries to get wrong
    set_kpi(con, recovery_window_s=6 * 3600, repeat_window_s=2 * 86400, short_abandon_s=5)
    first = [random_call(rng, f"a{i}", 0, 40) for i in range(1500)]
    if basis == "working":
        # six working hours: a window spans nights, weekends, a holiday, and departments
        # keep different hours, so a window may last days after its miss
        set_kpi(con, recovery_window_basis="working")
        con.execute(
            "insert into department_hours select 'Поддержка', d, time '12:00', time '14:00' "
            "from range(1, 8) as t(d)"
        )
        con.execute("insert into holidays values (date '2024-03-08', null, 'праздник')")
        for row in first:
            row["group_name"] = rng.choice(["Продажи", "Поддержка", None])
    load(con, first, hours=0)
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert cached(con) == from_scratch(con)

    # the next load: two new days, late calls in the past, and changed calls
    second = [random_call(rng, f"b{i}", 40, 2) for i in range(60)]
    second += [random_call(rng, f"late{i}", rng.choice([5, 20, 35]), 1) for i in range(15)]
    existing = con.sql("select * exclude (loaded_at) from calls").pl().rows(named=True)
    for row in rng.sample(existing, 40):
        change = rng.choice(["status", "start", "client", "rating"])
        if change == "status":
            row["status"] = "success" if row["status"] != "success" else "missed"
        elif change == "start":
            row["started_at"] += timedelta(hours=rng.choice([-30, -3, 2, 26]))
        elif change == "client":
            row["client"] = rng.choice(CLIENTS)
        else:
            row["rating"] = rng.randint(1, 5)
        second.append(row)
    load(con, second, hours=1)
    if seed % 5 == 0:  # a change no feed makes today, but the cache must survive it
        con.execute(
            "update calls set client = null, loaded_at = ? where uid in ('a1', 'a2', 'a3')",
            [LOADED_AT + timedelta(hours=2)],
        )

    assert warehouse.refresh_outcomes_cache(con) == "incremental"
    assert cached(con) == from_scratch(con)
    assert warehouse.refresh_outcomes_cache(con) is None


def test_settings_changes_and_unexplained_rows_refresh_everything() -> None:
    rng = random.Random(7)
    con = fresh()
    load(con, [random_call(rng, f"a{i}", 0, 10) for i in range(300)], hours=0)
    assert warehouse.refresh_outcomes_cache(con) == "full"

    set_kpi(con, recovery_window_s=3600)
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert cached(con) == from_scratch(con)

    # a row written without moving loaded_at cannot be found by what changed: start over
    load(con, [random_call(rng, "quiet", 11, 1)], hours=0)
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert cached(con) == from_scratch(con)

    # most of calls changed: recomputing everything is cheaper
    load(con, [random_call(rng, f"bulk{i}", 12, 5) for i in range(300)], hours=1)
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert cached(con) == from_scratch(con)


def test_a_cache_without_its_inputs_starts_over() -> None:
    """Warehouses whose cache predates inbound_outcomes_inputs."""
    rng = random.Random(3)
    con = fresh()
    load(con, [random_call(rng, f"a{i}", 0, 10) for i in range(300)], hours=0)
    warehouse.refresh_outcomes_cache(con)
    con.execute("delete from inbound_outcomes_inputs")
    load(con, [random_call(rng, "new", 11, 1)], hours=1)

    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert cached(con) == from_scratch(con)


def test_recomputed_calls_still_see_a_repeat_call_before_the_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A callback right before the zone must not hide the inbound call before it: the
    context reaches back a repeat window past the zone before it looks for conversations."""
    monkeypatch.setattr(warehouse.caches, "FULL_REFRESH_SHARE", 1.0)  # 1 change in 4 calls
    con = fresh()
    set_kpi(con, recovery_window_s=6 * 3600, repeat_window_s=2 * 86400)
    x = "79220000000"
    first = [
        miss("p", client=x, started_at=T0 + 10 * DAY),
        callback("t", client=x, started_at=T0 + 10 * DAY + HOUR),
        miss("c", client=x, started_at=T0 + 11.5 * DAY),  # 1.5 days after p: repeat caller
    ]
    load(con, first, hours=0)
    warehouse.refresh_outcomes_cache(con)
    # the next load: an outgoing call 2 days after `t` puts the zone's start just after it
    load(con, [callback("later", client=x, started_at=T0 + 12 * DAY + 23 * HOUR)], hours=1)

    assert warehouse.refresh_outcomes_cache(con) == "incremental"
    assert cached(con) == from_scratch(con)
    repeat = con.sql("select is_repeat_caller from inbound_outcomes_cache where uid = 'c'")
    assert repeat.fetchall() == [(True,)]


def test_a_conversation_long_after_a_miss_reaches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """next_contact_at looks arbitrarily far ahead: a callback a month after a miss (far
    beyond max(W, repeat window)) must make the cached miss recovered_late, and a miss that
    came before an earlier conversation must keep its own next contact."""
    monkeypatch.setattr(warehouse.caches, "FULL_REFRESH_SHARE", 1.0)
    con = fresh()
    set_kpi(con, recovery_window_s=6 * 3600, repeat_window_s=2 * 86400)
    x = "79220000001"
    load(
        con,
        [
            miss("early", client=x, started_at=T0),
            callback("talk", client=x, started_at=T0 + 3 * DAY),
            miss("m1", client=x, started_at=T0 + 5 * DAY),
            miss("m2", client=x, started_at=T0 + 9 * DAY),
        ],
        hours=0,
    )
    assert warehouse.refresh_outcomes_cache(con) == "full"
    load(con, [callback("month-later", client=x, started_at=T0 + 40 * DAY)], hours=1)

    assert warehouse.refresh_outcomes_cache(con) == "incremental"
    assert cached(con) == from_scratch(con)
    found = dict(
        con.sql(
            "select uid, next_contact_at from inbound_outcomes_cache where is_missed"
        ).fetchall()
    )
    assert found == {"early": T0 + 3 * DAY, "m1": T0 + 40 * DAY, "m2": T0 + 40 * DAY}
