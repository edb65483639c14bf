"""The report across accounts: KPIs of each account from its read copy, ranked by lost
contacts (still unreached at the cut-off) then service level, group totals weighted right;
the overview page and the roll-up email (to a real SMTP server on loopback), escaped,
without scripts."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench.report_bench import build_warehouse
from tests.support import small_warehouse as small
from tests.support.smtp import parts, smtp_server
from vats_etl import catalog, warehouse
from vats_etl.accounts import Accounts, load_accounts
from vats_etl.config import load_settings
from vats_etl.emulator import Emulator
from vats_etl.group_report import (
    AccountKpis,
    prepare_accounts,
    rank,
    read_group,
    render_dashboard,
    totals,
)
from vats_etl.reports import NO_DEPARTMENT, Period

# the module's fixture builds three accounts' warehouses of three weeks each: 6-8 s
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WEEK = small.WEEK  # 2024-W23
NOW = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)
XSS_GROUP = "<script>alert(1)</script>"
HEADLINE = f"hours <> 'after_hours' and department <> '{NO_DEPARTMENT}'"
COMPANIES = {  # account: (seed, agents, zone)
    "north-a": (11, 12, "Europe/Moscow"),
    "north-b": (12, 6, "Asia/Yekaterinburg"),
    "north-c": (13, 9, "Europe/Samara"),
}


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    folder = tmp_path_factory.mktemp("group")
    text = "".join(
        f'[accounts.{name}]\nbase_url = "{name}.example.ru"\nkey_env = "K"\ntz = "{tz}"\n\n'
        for name, (_, _, tz) in COMPANIES.items()
    )
    text = text.replace(
        'tz = "Europe/Moscow"\n', 'tz = "Europe/Moscow"\nemail_routing = "routing-a.toml"\n', 1
    )
    (folder / "routing-a.toml").write_text('rollup = ["boss.a@example.ru"]\n', "utf-8")
    text += '[accounts.never]\nbase_url = "never.example.ru"\nkey_env = "K"\ntz = "Europe/Moscow"\n'
    text += '\n[groups]\nnorth = ["north-a", "north-b", "north-c", "never"]\n'
    text += f'"{XSS_GROUP}" = ["north-b"]\n'
    path = folder / "accounts.toml"
    path.write_text(text, "utf-8")
    found = load_accounts(path)
    for name, (seed, agents, tz) in COMPANIES.items():
        emu = Emulator(seed=seed, agents=agents, tz=tz, profile="clean", clock=lambda: NOW)
        build_warehouse(found.get(name).db_path, emu, small.FIRST, small.LAST)
    catalog.build(found)
    return found


def group_settings(accounts: Accounts, group: str = "north") -> list[Any]:
    base = load_settings(environ={}, env_file=None)
    return [accounts.settings(a.name, base, {}) for a in accounts.group(group)]


def test_accounts_ranked_and_totals_weighted_as_the_calls_say(accounts: Accounts) -> None:
    data = read_group(group_settings(accounts), WEEK, group="north", now=NOW)
    # independently: the same week's inbound calls of every account, through the catalog;
    # the headline figures, as each account's own overview: working hours, calls that
    # reached a department
    with catalog.connect(accounts.catalog) as con:
        rows = con.execute(
            "select account, "
            "count(*) filter (where is_missed and uid = lost_contact_id and outcome = 'lost'), "
            "count(*) filter (where is_within_service_level), "
            "count(*) filter (where not is_short_abandon), count(*), "
            "count(*) filter (where is_missed), "
            "count(distinct lost_contact_id) filter (where is_missed) "
            f"from inbound_calls where {HEADLINE} and local_date between ? and ? "
            "group by account",
            [WEEK.first, WEEK.last],
        ).fetchall()
    expected = {
        a: (lost, within / net, offered, missed)
        for a, lost, within, net, offered, missed, _ in rows
    }
    # a contact is lost only when nobody has talked to the client since: not every contact
    # with misses, and not none of them
    assert 0 < sum(e[0] for e in expected.values()) < sum(r[6] for r in rows)
    assert set(expected) == set(COMPANIES)
    ranked = data.ranked
    assert [a.account for a in ranked] == sorted(
        expected, key=lambda a: (-expected[a][0], expected[a][1], a)
    )
    assert [a.rank for a in ranked] == [1, 2, 3]
    for a in ranked:
        assert (a.unreached_contacts, a.kpis["offered"], a.kpis["missed"]) == (
            expected[a.account][0], expected[a.account][2], expected[a.account][3]
        )  # fmt: skip
        assert a.service_level == pytest.approx(expected[a.account][1])
    t = data.totals
    assert t["unreached_contacts"] == sum(e[0] for e in expected.values())
    assert t["offered"] == sum(e[2] for e in expected.values())
    within = sum(r[2] for r in rows)
    net = sum(r[3] for r in rows)
    assert t["service_level"] == pytest.approx(within / net)  # not the mean of the three
    # the catalog gave it an empty read copy; without one the reason is the missing warehouse
    assert [(p.account, p.rank, p.problem) for p in data.problems] == [
        ("never", None, "no calls loaded yet")
    ]
    never = accounts.get("never")
    warehouse.read_copy_path(never.db_path).rename(never.home / "aside.duckdb")
    try:
        again = read_group(group_settings(accounts), WEEK, group="north", now=NOW)
    finally:
        (never.home / "aside.duckdb").rename(warehouse.read_copy_path(never.db_path))
    assert "run a backfill first" in (again.problems[0].problem or "")
    assert [a.account for a in again.ranked] == [a.account for a in ranked]


def test_ranking_breaks_ties_by_service_level_and_puts_no_calls_last() -> None:
    def row(name: str, lost: int, sl: float | None) -> AccountKpis:
        return AccountKpis(name, "UTC", {"unreached_contacts": lost, "service_level": sl}, {}, None)

    found = rank([row("d", 0, None), row("c", 2, 0.9), row("b", 2, 0.5), row("a", 5, 0.99),
                  AccountKpis("z", "UTC", None, None, None, "no warehouse")])  # fmt: skip
    assert [(a.account, a.rank) for a in found] == [
        ("a", 1), ("b", 2), ("c", 3), ("d", 4), ("z", None)
    ]  # fmt: skip


def test_totals_of_nothing_and_of_shares_without_weight() -> None:
    assert totals([])["service_level"] is None
    found = totals([{"offered": 10, "short_abandons": 10, "service_level": None}])
    assert found["offered"] == 10 and found["service_level"] is None


def test_the_page_ranks_escapes_and_runs_no_script(accounts: Accounts, tmp_path: Path) -> None:
    data = read_group(group_settings(accounts, XSS_GROUP), WEEK, group=XSS_GROUP, now=NOW)
    page = render_dashboard(data)
    assert XSS_GROUP not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    env = {"VATS_ACCOUNTS": str(accounts.path), "VATS_DASHBOARDS_DIR": str(tmp_path)}
    code, out, err = small.cli(
        "--env-file", "/dev/null", "group-report", "--group", "north", "--week", "2024-W23",
        env=env,
    )  # fmt: skip
    assert code == 0, err
    written = Path(out.strip())
    assert written == tmp_path / "group-overview-north.html"
    html = written.read_text("utf-8")
    order = [html.index(f'data-account="{name}"') for name in ("north-a", "north-b", "north-c")]
    ranked = read_group(group_settings(accounts), WEEK, group="north", now=NOW).ranked
    assert [n for _, n in sorted(zip(order, COMPANIES, strict=True))] == [a.account for a in ranked]
    assert 'data-account="never"' in html and "нет данных" in html
    assert "warning: no data for never" in err


def test_group_commands_upgrade_an_account_an_older_version_left(
    accounts: Accounts, tmp_path: Path
) -> None:
    """Reading an account never writes it: read_group lists an account whose warehouse an
    older vats-etl left with that reason; group-report prepares every account first, so
    that one is upgraded and ranked like the others."""
    left = accounts.get("north-c")
    files = (left.db_path, warehouse.read_copy_path(left.db_path))
    for path in files:
        with duckdb.connect(str(path)) as old:
            old.execute("update schema_state set sql_digest = 'older'")
    data = read_group(group_settings(accounts), WEEK, group="north", now=NOW)
    assert [(a.account, "older vats-etl" in (a.problem or "")) for a in data.problems] == [
        ("never", False),
        ("north-c", True),
    ]
    assert not any(warehouse.schema_is_current(f) for f in files)  # read, not written
    listed = read_group(
        group_settings(accounts), WEEK, group="north", now=NOW, unprepared={"north-a": "why"}
    )
    assert {a.account: a.problem for a in listed.problems}["north-a"] == "why"
    env = {"VATS_ACCOUNTS": str(accounts.path), "VATS_DASHBOARDS_DIR": str(tmp_path)}
    code, _, err = small.cli(
        "--env-file", "/dev/null", "group-report", "--group", "north", "--week", "2024-W23",
        env=env,
    )  # fmt: skip
    assert code == 0, err
    assert "no data for north-c" not in err and "no data for never" in err
    assert all(warehouse.schema_is_current(f) for f in files)
    assert prepare_accounts(group_settings(accounts)) == {}
    again = read_group(group_settings(accounts), WEEK, group="north", now=NOW)
    assert [a.account for a in again.problems] == ["never"]


def test_the_roll_up_email_goes_over_smtp(accounts: Accounts, tmp_path: Path) -> None:
    data = read_group(group_settings(accounts), WEEK, group="north", now=NOW)
    with smtp_server() as (inbox, port):
        env = {
            "VATS_ACCOUNTS": str(accounts.path),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_SECURITY": "none",
            "REPORT_FROM": "ВАТС отчёты <reports@example.ru>",
            "REPORT_TO": "group.director@example.ru",
        }
        code, _, err = small.cli(
            "--env-file", "/dev/null", "group-email", "--group", "north", "--week", "2024-W23",
            env=env,
        )  # fmt: skip
    assert code == 0, err
    assert len(inbox.received) == 1
    sender, recipients, message = inbox.received[0]
    assert (sender, recipients) == ("reports@example.ru", ["group.director@example.ru"])
    assert isinstance(message, EmailMessage)
    subject = str(message["Subject"])
    lost = data.totals["unreached_contacts"]
    assert subject.startswith("north: неделя 2024-W23") and f"обращений {lost}" in subject
    plain, html, attachments = parts(message)
    assert list(attachments) == ["group-overview-north.html"]
    assert "<script" not in html.lower()
    first = data.ranked[0]
    assert f"1. {first.account}: потерянных обращений {first.unreached_contacts}" in plain
    assert "never: нет данных" in plain
    code, out, err = small.cli(
        "--env-file", "/dev/null", "group-email", "--week", "2024-W23", "--dry-run",
        "--out", str(tmp_path), env={"VATS_ACCOUNTS": str(accounts.path)},
    )  # fmt: skip
    assert code == 0, err
    eml = Path(out.strip())
    assert eml.suffix == ".eml" and eml.exists()
    assert "Аккаунты: все аккаунты" in eml.with_suffix(".html").read_text("utf-8")


def test_a_period_of_local_days_per_account(accounts: Accounts) -> None:
    """Each account's day is its own: the same dates, different instants."""
    day = Period(WEEK.first, WEEK.first)
    data = read_group(group_settings(accounts), day, group="north", now=NOW)
    with catalog.connect(accounts.catalog) as con:
        offered = dict(
            con.execute(
                f"select account, count(*) from inbound_calls where {HEADLINE} "
                "and local_date = ? group by 1",
                [day.first],
            ).fetchall()
        )
    assert {a.account: a.kpis["offered"] for a in data.ranked} == offered


def test_a_catalog_per_group(accounts: Accounts) -> None:
    info = catalog.build(accounts, XSS_GROUP)
    assert info.path.name == "catalog-script-alert-1-script.duckdb"
    assert info.attached == ("north-b",)
    with catalog.connect(info.path) as con:
        assert con.execute("select distinct account from calls").fetchall() == [("north-b",)]
    env = {"VATS_ACCOUNTS": str(accounts.path)}
    code, out, err = small.cli(
        "--env-file", "/dev/null", "catalog", "--group", "north", "--query",
        "select account, count(*) as calls from calls group by 1 order by 1", env=env,
    )  # fmt: skip
    assert code == 0, err
    assert "catalog-north.duckdb: 4 accounts attached" in err
    assert "not loaded yet (empty): never" in err
    rows = [line.split("│")[1:3] for line in out.splitlines() if line.startswith("│")]
    assert [r[0].strip() for r in rows] == ["north-a", "north-b", "north-c"]
    code, _, err = small.cli(
        "--env-file", "/dev/null", "catalog", "--group", "north", "--query", "select nonsense",
        env=env,
    )  # fmt: skip
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: Binder Error")


def test_one_account_s_report_and_email_use_its_folder_and_routing(
    accounts: Accounts, tmp_path: Path
) -> None:
    env = {"VATS_ACCOUNTS": str(accounts.path), "VATS_DASHBOARDS_DIR": str(tmp_path / "no")}
    code, out, err = small.cli(
        "--env-file", "/dev/null", "--account", "north-a", "report", "--week", "2024-W23",
        env=env,
    )  # fmt: skip
    assert code == 0, err
    home = accounts.get("north-a").dashboards_dir
    written = [Path(line) for line in out.split()]
    assert {p.parent for p in written} == {home} and len(written) >= 4
    assert not (tmp_path / "no").exists()
    code, out, err = small.cli(
        "--env-file", "/dev/null", "--account", "north-a", "email-weekly", "--week",
        "2024-W23", "--dry-run", "--out", str(tmp_path / "mail"), env=env,
    )  # fmt: skip
    assert code == 0, err
    (eml,) = [Path(line) for line in out.split() if line.endswith(".eml")]
    assert "To: rollup@localhost, boss.a@example.ru" in eml.read_text()  # its routing file
