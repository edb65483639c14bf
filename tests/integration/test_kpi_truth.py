"""Cross-check: a month of emulator data, loaded through the real pipeline over a socket (with
a directory snapshot every local midnight), gives the KPIs that an independent Python
implementation of the definitions in docs/metrics.md computes from the emulator's ground truth — in
the spec's dialect and in the platform's (type, null, noanswer, login@domain, no sims)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulated import API_KEY, DIALECTS, FAST_RETRY, make_settings, served
from tests.support.kpi_truth import (
    MSK,
    Miss,
    W,
    analyst_queries,
    department,
    hours,
    is_miss,
    kpis,
    repeat_callers,
    segment,
    truth_misses,
)
from vats_etl import pipeline, snapshots, warehouse
from vats_etl.client import PbxClient
from vats_etl.config import Secret, Settings
from vats_etl.emulator import Emulator
from vats_etl.periods import Window, local_midnight

pytestmark = pytest.mark.slow

FIRST, LAST = date(2024, 6, 1), date(2024, 6, 30)  # the month compared
LOADED_UNTIL = date(2024, 7, 3)  # follow-ups of late-June misses land in July
NOW = datetime(2024, 7, 8, 9, 0, tzinfo=UTC)


# -- loading the month through the real pipeline --------------------------------------------


@dataclass
class Month:
    emu: Emulator
    settings: Settings
    truth: list[dict[str, Any]]


@pytest.fixture(scope="module", params=DIALECTS)
def month(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Month]:
    now = [local_midnight(FIRST, MSK)]
    emu = Emulator(
        seed=11, agents=60, profile="realistic", dialect=request.param, clock=lambda: now[0]
    )
    tmp: Path = tmp_path_factory.mktemp("month")
    with served(emu) as server:
        settings = make_settings(server.base_url, tmp)
        with PbxClient(server.base_url, Secret(API_KEY), retry=FAST_RETRY) as client:
            day = FIRST
            while day <= LAST:  # the directory as of every local midnight
                now[0] = local_midnight(day, MSK)
                snapshots.refresh(client, settings, now=lambda: now[0])
                day += timedelta(days=1)
            now[0] = NOW
            chunks = pipeline.plan(FIRST, LOADED_UNTIL, settings.zone)
            summary = pipeline.run(settings, chunks, client=client, now=lambda: NOW)
        assert summary.status == "ok", summary.failures
    warehouse.publish_read_copy(settings.db_path)  # refreshes the view caches, as flows do
    window = Window(local_midnight(FIRST, MSK), local_midnight(LOADED_UNTIL + timedelta(1), MSK))
    truth = [r for r in emu.external_calls(window) if not r["malformed"]]
    yield Month(emu, settings, truth)


def query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    with warehouse.connect(
        settings.db_path, company=warehouse.Company.from_settings(settings)
    ) as con:
        rel = con.execute(sql)
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def in_month(row: dict[str, Any]) -> bool:
    return FIRST <= row["started_at"].astimezone(MSK).date() <= LAST


# -- the comparisons -------------------------------------------------------------------------


def test_every_missed_call_and_its_recovery(month: Month) -> None:
    expected = truth_misses(month.truth)
    got = query(
        month.settings,
        "select uid, recovery, recovered_at, time_to_recovery_s, callback_attempts, "
        "lost_contact_id, next_contact_at, outcome from missed_calls",
    )
    views = {r["uid"]: Miss(**r) for r in got}
    assert len(views) == len(expected) > 1000
    assert views == expected
    paths = {m.recovery for m in views.values()}
    assert paths == {"callback", "client_called_again", None}
    assert {m.outcome for m in views.values()} == {"recovered", "recovered_late", "pending", "lost"}


def test_daily_kpis_by_department_and_total(month: Month) -> None:
    misses = truth_misses(month.truth)
    repeat = repeat_callers(month.truth)
    inbound = [r for r in month.truth if r["direction"] == "in" and in_month(r)]
    # a department's rows by hours; the totals by segment (the headline one is what the
    # tiles show: working hours, calls that reached a department)
    groups: dict[tuple[date, str | None, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in inbound:
        day = row["started_at"].astimezone(MSK).date()
        dept, when = department(month.emu, row), hours(row)
        groups[(day, dept, when, segment(when, dept))].append(row)
        groups[(day, None, when, segment(when, dept))].append(row)
    expected = {key: kpis(rows, misses, repeat) for key, rows in groups.items()}
    columns = ", ".join(next(iter(expected.values())))
    got = {
        (r.pop("local_date"), r.pop("department"), r.pop("hours"), r.pop("segment")): r
        for r in query(
            month.settings,
            f"select local_date, department, hours, segment, {columns} from kpi_daily "
            f"where local_date between '{FIRST}' and '{LAST}'",
        )
    }
    assert set(got) == set(expected)
    assert len({dept for _, dept, _, _ in got}) >= 4  # several departments (and the totals)
    assert {h for _, _, h, _ in got} == {"in_hours", "after_hours"}
    assert {s for _, _, _, s in got} == {"in_hours", "unrouted", "after_hours"}
    for key, want in expected.items():
        nulls = {k for k, v in want.items() if v is None}
        assert {k for k, v in got[key].items() if v is None} == nulls, key
        numbers = {k: v for k, v in want.items() if k not in nulls}
        assert {k: got[key][k] for k in numbers} == pytest.approx(numbers, rel=1e-9), key


def test_weekly_totals_add_up_and_match_the_truth(month: Month) -> None:
    misses = truth_misses(month.truth)
    june = [misses[r["uid"]] for r in month.truth if is_miss(r) and in_month(r)]
    weeks = query(
        month.settings,
        "select sum(missed) as missed, sum(recovered_callback) as callback, "
        "sum(recovered_client) as client, sum(not_called_back) as not_called_back "
        "from kpi_daily where is_total and local_date between "
        f"'{FIRST}' and '{LAST}'",
    )
    assert weeks == [
        {
            "missed": len(june),
            "callback": sum(m.recovery == "callback" for m in june),
            "client": sum(m.recovery == "client_called_again" for m in june),
            "not_called_back": sum(m.outcome in ("recovered_late", "lost") for m in june),
        }
    ]
    check = query(
        month.settings,
        "select week_start, sum(offered) filter (where not is_total) as parts, "
        "sum(offered) filter (where is_total) as total from kpi_weekly group by all",
    )
    assert all(r["parts"] == r["total"] for r in check)


def test_recovery_paths_agree_with_what_the_emulator_generated(month: Month) -> None:
    """The generator's own plan: a miss whose planned callback succeeded within W (and
    before the client got through by themselves) must be recovered by that callback."""
    view = {
        r["uid"]: r
        for r in query(month.settings, "select uid, recovery, recovered_at from missed_calls")
    }
    checked = 0
    for row in month.truth:
        if not (is_miss(row) and in_month(row)):
            continue
        planned = row.get("callback_success_at")
        if planned is None or planned - row["started_at"] > W:
            continue
        got = view[row["uid"]]
        assert got["recovery"] in {"callback", "client_called_again"}, row["uid"]
        assert got["recovered_at"] <= planned
        checked += 1
    assert checked > 300


def test_live_and_cached_outcomes_are_the_same(month: Month) -> None:
    with warehouse.connect(
        month.settings.db_path, company=warehouse.Company.from_settings(month.settings)
    ) as con:
        cached = con.sql("select * from inbound_outcomes order by uid").fetchall()
        assert con.sql("select count(*) from view_caches").fetchall() == [(1,)]
        con.execute("begin transaction")
        con.execute("delete from view_caches")
        live = con.sql("select * from inbound_outcomes order by uid").fetchall()
        con.execute("rollback")
    assert live == cached


def test_the_five_analyst_queries_run_as_written(month: Month) -> None:
    queries = analyst_queries()
    assert len(queries) == 5
    with warehouse.connect(
        month.settings.db_path, company=warehouse.Company.from_settings(month.settings)
    ) as con:
        for sql in queries:
            title = [line for line in sql.splitlines() if line.startswith("-- ")][-1]
            found = con.sql(sql).fetchall()
            assert found, f"no rows for {title}"
