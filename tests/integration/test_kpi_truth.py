"""Cross-check: a month of emulator data, loaded through the real pipeline over a socket (with
a directory snapshot every local midnight), gives the KPIs that an independent Python
implementation of DESIGN.md's definitions computes from the emulator's ground truth — in
the spec's dialect and in the platform's (type, null, noanswer, login@domain, no sims)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.integration.conftest import API_KEY, DIALECTS, FAST_RETRY, make_settings, served
from vats_etl import pipeline, snapshots, warehouse
from vats_etl.client import PbxClient
from vats_etl.config import Secret, Settings
from vats_etl.emulator import Emulator
from vats_etl.periods import Window, local_midnight

pytestmark = pytest.mark.slow

MSK = ZoneInfo("Europe/Moscow")
FIRST, LAST = date(2024, 6, 1), date(2024, 6, 30)  # the month compared
LOADED_UNTIL = date(2024, 7, 3)  # follow-ups of late-June misses land in July
NOW = datetime(2024, 7, 8, 9, 0, tzinfo=UTC)
W = timedelta(seconds=86_400)
T_SHORT, N_SL = 5, 20
REPEAT = timedelta(days=7)
NO_DEPARTMENT = "Без отдела"


# -- the independent computation over truth rows --------------------------------------------


@dataclass
class Miss:
    uid: str
    recovery: str | None
    recovered_at: datetime | None
    time_to_recovery_s: int | None
    callback_attempts: int
    lost_contact_id: str
    next_contact_at: datetime | None
    outcome: str


def order(row: dict[str, Any]) -> tuple[datetime, str]:
    return (row["started_at"], row["uid"])


def is_short(row: dict[str, Any]) -> bool:
    return row["status"] != "success" and row["wait_s"] is not None and row["wait_s"] < T_SHORT


def is_miss(row: dict[str, Any]) -> bool:
    return row["direction"] == "in" and row["status"] != "success" and not is_short(row)


def is_callback(row: dict[str, Any]) -> bool:
    return row["direction"] == "out" and row["status"] == "success" and (row["duration_s"] or 0) > 0


def is_answered_inbound(row: dict[str, Any]) -> bool:
    return row["direction"] == "in" and row["status"] == "success"


def outcome(
    recovery: str | None, contact: datetime | None, deadline: datetime, cutoff: datetime
) -> str:
    if recovery is not None:
        return "recovered"
    if contact is not None:
        return "recovered_late"
    return "pending" if deadline >= cutoff else "lost"


def truth_misses(rows: list[dict[str, Any]]) -> dict[str, Miss]:
    """DESIGN.md: callback = outgoing call to the client, success, duration > 0, within W;
    client called again = the client's inbound call within W answered; the first of the two
    recovers; misses of one client collapse into one lost contact until they talk. The
    outcome as of the cut-off (the latest call): recovered within W (its end included),
    recovered late (the first conversation after W), pending (W not over), lost."""
    cutoff = max(r["started_at"] for r in rows)
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["client"] is not None:
            by_client[row["client"]].append(row)
    found: dict[str, Miss] = {}
    for client_rows in by_client.values():
        client_rows.sort(key=order)
        lost_contact: str | None = None
        for i, row in enumerate(client_rows):
            if is_callback(row) or is_answered_inbound(row):
                lost_contact = None
            if not is_miss(row):
                continue
            lost_contact = lost_contact or row["uid"]
            deadline = row["started_at"] + W
            later = [r for r in client_rows[i + 1 :] if r["started_at"] <= deadline]
            recovering = next((r for r in later if is_callback(r) or is_answered_inbound(r)), None)
            contact = next(
                (
                    r["started_at"]
                    for r in client_rows[i + 1 :]
                    if is_callback(r) or is_answered_inbound(r)
                ),
                None,
            )
            if recovering is None:
                recovery, at, attempts_until = None, None, len(later)
            else:
                recovery = "callback" if is_callback(recovering) else "client_called_again"
                at = recovering["started_at"]
                attempts_until = later.index(recovering) + 1
            attempts = sum(r["direction"] == "out" for r in later[:attempts_until])
            found[row["uid"]] = Miss(
                row["uid"],
                recovery,
                at,
                None if at is None else int((at - row["started_at"]).total_seconds()),
                attempts,
                lost_contact,
                contact,
                outcome(recovery, contact, deadline, cutoff),
            )
    for row in rows:  # misses of unknown numbers are their own contact, never recovered
        if is_miss(row) and row["client"] is None:
            deadline = row["started_at"] + W
            found[row["uid"]] = Miss(
                row["uid"], None, None, None, 0, row["uid"], None,
                outcome(None, None, deadline, cutoff),
            )  # fmt: skip
    return found


def repeat_callers(rows: list[dict[str, Any]]) -> set[str]:
    inbound: dict[str, list[datetime]] = defaultdict(list)
    for row in rows:
        if row["direction"] == "in" and row["client"] is not None:
            inbound[row["client"]].append(row["started_at"])
    repeat = set()
    for row in rows:
        if row["direction"] != "in" or row["client"] is None:
            continue
        others = inbound[row["client"]]
        if sum(abs(t - row["started_at"]) <= REPEAT for t in others) >= 2:
            repeat.add(row["uid"])
    return repeat


def hours(row: dict[str, Any]) -> str:
    """The default schedule (Monday to Friday, 09:00-18:00 in Moscow), the PBX's verdict
    first."""
    if row["destination"] in ("offtime", "onduty"):
        return "after_hours"
    local = row["started_at"].astimezone(MSK)
    working = local.isoweekday() <= 5 and 9 <= local.hour < 18
    return "in_hours" if working else "after_hours"


def segment(hours_of_call: str, department_of_call: str) -> str:
    """inbound_calls.segment: after hours, else in working hours without a department
    (unrouted), else the headline in_hours."""
    if hours_of_call == "after_hours":
        return "after_hours"
    return "unrouted" if department_of_call == NO_DEPARTMENT else "in_hours"


def department(emu: Emulator, row: dict[str, Any]) -> str:
    if row["group_name"]:
        return str(row["group_name"])
    directory = emu.directory(row["started_at"])
    user = directory.user(row["user_login"]) if row["user_login"] else None
    if user is not None and user.group_id:
        return directory.group_names[user.group_id]
    return NO_DEPARTMENT


def p(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q * 100)) if values else None


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def kpis(rows: list[dict[str, Any]], misses: dict[str, Miss], repeat: set[str]) -> dict[str, Any]:
    answered = [r for r in rows if r["status"] == "success"]
    short = [r for r in rows if is_short(r)]
    missed = [misses[r["uid"]] for r in rows if is_miss(r)]
    callbacks = [float(m.time_to_recovery_s or 0) for m in missed if m.recovery == "callback"]
    not_short = len(rows) - len(short)
    rated = [r["rating"] for r in rows if r["rating"] is not None]
    return {
        "offered": len(rows),
        "short_abandons": len(short),
        "answered": len(answered),
        "missed": len(missed),
        "answer_rate": len(answered) / not_short if not_short else None,
        "service_level": (
            sum(r["wait_s"] is not None and r["wait_s"] <= N_SL for r in answered) / not_short
            if not_short
            else None
        ),
        "asa_s": mean([r["wait_s"] for r in answered]),
        "asa_p90_s": p([r["wait_s"] for r in answered], 0.9),
        "talk_mean_s": mean([r["duration_s"] for r in answered]),
        "talk_median_s": p([r["duration_s"] for r in answered], 0.5),
        "recovered_callback": sum(m.recovery == "callback" for m in missed),
        "recovered_client": sum(m.recovery == "client_called_again" for m in missed),
        "not_called_back": sum(m.outcome in ("recovered_late", "lost") for m in missed),
        "recovered_late": sum(m.outcome == "recovered_late" for m in missed),
        "lost": sum(m.outcome == "lost" for m in missed),
        "pending": sum(m.outcome == "pending" for m in missed),
        "callback_median_s": p(callbacks, 0.5),
        "callback_p90_s": p(callbacks, 0.9),
        "lost_contacts": sum(m.lost_contact_id == m.uid for m in missed),
        "repeat_caller_share": sum(r["uid"] in repeat for r in rows) / len(rows),
        "rated_calls": len(rated),
        "rating_mean": mean(rated),
    }


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


ANALYST_QUERIES = Path(__file__).resolve().parents[2] / "docs" / "analyst-queries.sql"


def analyst_queries() -> list[str]:
    text = ANALYST_QUERIES.read_text("utf-8")
    statements = [s.strip() for s in text.split(";\n")]
    return [
        s for s in statements if s and not all(line.startswith("--") for line in s.splitlines())
    ]


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
