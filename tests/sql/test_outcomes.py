"""Outcomes of missed calls end to end: every outcome of a miss over a month, the boundary
of W on both sides and on it, and the action list ("кому позвонить") = exactly the lost
contacts as of the data cut-off, re-evaluated at every load — with the outcome cache in
between."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest

from tests.support.warehouse_rows import DAY, HOUR, LOADED_AT, T0, call, callback, fresh, miss
from vats_etl import warehouse
from vats_etl.parse import CALL_SCHEMA
from vats_etl.reports import Period, Reader

W = DAY  # kpi_settings.recovery_window_s default
SECOND = timedelta(seconds=1)
MARCH = Period(date(2024, 3, 1), date(2024, 3, 31))
# T0 is Monday 4 March 2024, 12:00 in Moscow; the data ends T0 + 27 days + 3 h (the cut-off)
CUTOFF = T0 + 27 * DAY + 3 * HOUR


def month() -> list[dict[str, Any]]:
    return [
        miss("m-cb", client="79000000001", started_at=T0 + DAY),
        callback("cb", client="79000000001", started_at=T0 + DAY + 2 * HOUR),
        miss("m-again", client="79000000002", started_at=T0 + 2 * DAY),
        call("again", client="79000000002", started_at=T0 + 2 * DAY + HOUR),
        # reached just after W, by us and by the client: recovered late, never on the list
        miss("m-late-out", client="79000000003", started_at=T0 + 3 * DAY),
        callback("late-cb", client="79000000003", started_at=T0 + 3 * DAY + W + SECOND),
        miss("m-late-in", client="79000000004", started_at=T0 + 4 * DAY),
        call("late-in", client="79000000004", started_at=T0 + 4 * DAY + W + SECOND),
        # lost: a failed callback is an attempt, not a conversation
        miss("m-lost", client="79000000005", started_at=T0 + 8 * DAY),
        callback(
            "busy",
            client="79000000005",
            started_at=T0 + 8 * DAY + HOUR,
            status="busy",
            duration_s=0,
        ),
        # lost after hours (Tuesday 22:00 in Moscow, the PBX's off-time message)
        miss(
            "m-night",
            client="79000000006",
            started_at=T0 + 8 * DAY + 10 * HOUR,
            destination="offtime",
            group_name=None,
        ),
        # lost on Thursday 21st, missed again within the last day: one contact, on the list
        miss("m-old", client="79000000007", started_at=T0 + 17 * DAY),
        miss("m-new", client="79000000007", started_at=T0 + 27 * DAY),
        # W still open at the cut-off: pending, not on the list
        miss("m-pending", client="79000000008", started_at=T0 + 27 * DAY + HOUR),
        call("last", client="79000000009", started_at=CUTOFF),
    ]


EXPECTED = {
    "m-cb": "recovered",
    "m-again": "recovered",
    "m-late-out": "recovered_late",
    "m-late-in": "recovered_late",
    "m-lost": "lost",
    "m-night": "lost",
    "m-old": "lost",
    "m-new": "pending",
    "m-pending": "pending",
}


def load(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], hours: int) -> None:
    frame = pl.DataFrame(rows, schema=CALL_SCHEMA, orient="row")
    warehouse.upsert(con, "calls", frame, LOADED_AT + timedelta(hours=hours))


def outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.sql("select uid, outcome from missed_calls").fetchall())


def contacts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Contacts with misses, and those of them still lost (kpi_weekly, every row once)."""
    [(with_misses, lost)] = con.sql(
        "select sum(lost_contacts)::int, sum(unreached_contacts)::int from kpi_weekly "
        "where is_total"
    ).fetchall()
    return with_misses, lost


def on_the_list(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, bool, str]]:
    """client -> (misses, whether the window of its latest miss is open, segment)."""
    action = Reader(con, MARCH).action_list()
    return {
        r["client"]: (r["misses"], not r["missed"][-1]["is_window_over"], r["segment"])
        for r in action.to_dicts()
    }


@pytest.mark.parametrize("cached", [False, True], ids=["live", "cached"])
def test_a_month_with_every_outcome_and_its_action_list(cached: bool) -> None:
    con = fresh()
    load(con, month(), hours=0)
    if cached:
        assert warehouse.refresh_outcomes_cache(con) == "full"
    assert con.sql("select cutoff_at from data_cutoff").fetchall() == [(CUTOFF,)]
    assert outcomes(con) == EXPECTED
    assert on_the_list(con) == {
        "79000000005": (1, False, "in_hours"),
        "79000000006": (1, False, "after_hours"),
        "79000000007": (2, True, "in_hours"),  # its latest miss can still be recovered in time
    }
    hours = dict(con.sql("select uid, hours from missed_calls").fetchall())
    assert hours["m-night"] == "after_hours" and hours["m-lost"] == "in_hours"
    totals = con.sql(
        "select sum(missed), sum(recovered_callback + recovered_client), sum(recovered_late), "
        "sum(lost), sum(pending), sum(not_called_back) from kpi_weekly where is_total"
    ).fetchall()
    assert totals == [(9, 2, 2, 3, 2, 5)]  # missed = recovered + not called back + pending
    assert contacts(con) == (8, 3)  # 8 contacts with misses; 3 lost, as on the list

    # the next run: the lost client is reached, and the data moves past the pending windows
    load(
        con,
        [
            callback("reached", client="79000000005", started_at=CUTOFF + HOUR),
            call("later", client="79000000010", started_at=CUTOFF + 2 * DAY),
        ],
        hours=1,
    )
    if cached:
        assert warehouse.refresh_outcomes_cache(con) == "incremental"
    now = outcomes(con)
    assert now["m-lost"] == "recovered_late"  # reached yesterday: never on today's list
    assert (now["m-new"], now["m-pending"]) == ("lost", "lost")  # untouched clients, new cut-off
    assert set(on_the_list(con)) == {"79000000006", "79000000007", "79000000008"}
    assert contacts(con) == (8, 3)  # one reached, one newly lost: still the list's length


@pytest.mark.parametrize(
    ("offset", "outcome"),
    [(-SECOND, "recovered"), (timedelta(0), "recovered"), (SECOND, "recovered_late")],
    ids=["W-1s", "W", "W+1s"],
)
@pytest.mark.parametrize("direction", ["callback", "client"])
def test_the_end_of_w_is_included(offset: timedelta, outcome: str, direction: str) -> None:
    con = fresh()
    contact = T0 + W + offset
    reaching = (
        callback("reach", started_at=contact)
        if direction == "callback"
        else call("reach", started_at=contact)
    )
    load(con, [miss("m"), reaching, call("last", client="79000000099", started_at=T0 + 3 * DAY)], 0)
    found = con.sql(
        "select outcome, recovery, recovered_at, next_contact_at from missed_calls"
    ).fetchall()
    recovery = {"callback": "callback", "client": "client_called_again"}[direction]
    if outcome == "recovered":
        assert found == [(outcome, recovery, contact, contact)]
    else:
        assert found == [(outcome, None, None, contact)]
    assert on_the_list(con) == {}


def test_pending_ends_when_w_ends_at_the_cut_off() -> None:
    """W still open at the cut-off (its end included) is pending; a second later, lost."""
    con = fresh()
    load(con, [miss("m"), call("last", client="79000000099", started_at=T0 + W)], 0)
    assert outcomes(con) == {"m": "pending"}
    load(con, [call("later", client="79000000098", started_at=T0 + W + SECOND)], 1)
    assert outcomes(con) == {"m": "lost"}
    assert set(on_the_list(con)) == {"79001112233"}
