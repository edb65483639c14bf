"""Directory snapshots: the pure SCD2 diff, payload mapping, and whole snapshots against a
fake PBX (httpx.MockTransport) into a fresh warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from vats_etl import archive, errors, snapshots, warehouse
from vats_etl.client import PbxClient, RetryPolicy
from vats_etl.config import Secret, Settings
from vats_etl.snapshots import scd2_diff

# -- the pure diff ---------------------------------------------------------------------------

KEY = ("k",)
ATTRS = ("a", "b")


def current(*rows: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    return {(r["k"],): snapshots.attr_hash(r, ATTRS) for r in rows}


def test_diff_first_snapshot_inserts_everything() -> None:
    diff = scd2_diff({}, [{"k": "x", "a": 1, "b": None}, {"k": "y", "a": 2, "b": "z"}], KEY, ATTRS)
    assert diff.closes == []
    assert [r["k"] for r in diff.inserts] == ["x", "y"]
    assert diff.inserts[0]["attr_hash"] == snapshots.attr_hash({"a": 1, "b": None}, ATTRS)
    assert diff.unchanged == 0


def test_diff_same_state_changes_nothing() -> None:
    rows = [{"k": "x", "a": 1, "b": [1, 2]}, {"k": "y", "a": 2, "b": None}]
    diff = scd2_diff(current(*rows), rows, KEY, ATTRS)
    assert (diff.closes, diff.inserts, diff.unchanged, diff.is_empty) == ([], [], 2, True)


def test_diff_change_closes_and_inserts_deletion_closes() -> None:
    old = [{"k": "x", "a": 1, "b": None}, {"k": "y", "a": 2, "b": None}, {"k": "z", "a": 3}]
    new = [{"k": "x", "a": 1, "b": None}, {"k": "y", "a": 20, "b": None}, {"k": "n", "a": 0}]
    diff = scd2_diff(current(*old), new, KEY, ATTRS)
    assert diff.closes == [("y",), ("z",)]
    assert [(r["k"], r["a"]) for r in diff.inserts] == [("y", 20), ("n", 0)]
    assert diff.unchanged == 1


def test_diff_ignores_keys_and_extra_fields_in_the_hash_and_last_duplicate_wins() -> None:
    assert snapshots.attr_hash({"k": 1, "a": 1, "zzz": 9}, ATTRS) == snapshots.attr_hash(
        {"k": 2, "a": 1}, ATTRS
    )
    diff = scd2_diff({}, [{"k": "x", "a": 1}, {"k": "x", "a": 2}], KEY, ATTRS)
    assert [(r["k"], r["a"]) for r in diff.inserts] == [("x", 2)]


def test_diff_composite_key() -> None:
    rows = [{"g": "s", "u": "a", "p": 0}, {"g": "t", "u": "a", "p": 0}]
    cur = {("s", "a"): snapshots.attr_hash(rows[0], ["p"])}
    diff = scd2_diff(cur, rows[1:], ("g", "u"), ["p"])
    assert diff.closes == [("s", "a")]
    assert [(r["g"], r["u"]) for r in diff.inserts] == [("t", "a")]


# -- payload mapping -------------------------------------------------------------------------


def test_payload_rows_normalise_messy_values() -> None:
    [user] = snapshots.user_rows(
        [
            {
                "login": " ivan ",
                "name": "Иван",
                "ext": 701,
                "telnum": "",
                "mobile_redirect": {"enabled": "true", "forward": False, "delay": "15"},
            },
            {"login": "", "name": "no login"},
        ],
        {"ivan": ["sales", "support", "sales"]},
    )
    assert user["user_login"] == "ivan"
    assert (user["ext"], user["telnum"]) == ("701", None)
    assert (user["is_mobile_redirect"], user["mobile_redirect_delay_s"]) == (True, 15)
    assert user["group_ids"] == ["sales", "support"]
    group = {
        "id": "sales",
        "name": "Продажи",
        "call_duration": "10",
        "timeout": {"time": 30, "target": "user", "user": "ivan"},
        "users": [
            {"login": "ivan", "calls_enable": True},
            {"login": "anna", "calls_enable": "false"},
        ],
    }
    [g] = snapshots.group_rows([group])
    assert (g["call_duration_s"], g["timeout_s"], g["timeout_target"]) == (10, 30, "user")
    members = snapshots.member_rows([group])
    assert [(m["user_login"], m["member_position"], m["is_calls_enabled"]) for m in members] == [
        ("ivan", 0, True),
        ("anna", 1, False),
    ]
    [t] = snapshots.telnum_rows(
        [{"telnum": "7495", "type": "ivr", "ivr": {"name": "m", "items": []}, "schedule": {}}]
    )
    assert t["ivr"] == '{"items":[],"name":"m"}'  # canonical: sorted keys
    assert t["schedule"] is None
    [b] = snapshots.blacklist_rows([{"telnum": "7900800*", "comment": "спам", "week": "2"}])
    assert (b["blocked_calls_week"], b["blocked_calls_year"]) == (2, None)


# -- whole snapshots against a fake PBX ------------------------------------------------------

T1 = datetime(2024, 3, 4, 6, 0, tzinfo=UTC)


def directory() -> dict[str, Any]:
    return {
        "users": [
            {"login": "ivan", "name": "Иван Петров", "position": "Менеджер", "ext": "701"},
            {"login": "anna", "name": "Анна Смирнова", "position": "Менеджер", "ext": "702"},
            {"login": "oleg", "name": "Олег Котов", "position": "Стажёр", "ext": "703"},
        ],
        "groups": [
            {
                "id": "sales",
                "name": "Продажи",
                "call_order": "EVENLY",
                "users": [{"login": "ivan", "calls_enable": True}],
            },
            {
                "id": "support",
                "name": "Поддержка",
                "users": [{"login": "anna", "calls_enable": True}],
            },
        ],
        "telnums": [{"telnum": "74950000001", "type": "group", "group": "sales"}],
        "sims": [{"telnum": "79260000001", "user": "ivan", "company": False}],
        "blacklist": [  # more than a page: the list is paged like the others
            {"telnum": "7900800*", "comment": "спам", "week": 0, "year": 3},
            {"telnum": "79001112200", "comment": "", "week": 1, "year": 0},
            {"telnum": "79001112201", "comment": "робот", "week": 0, "year": 0},
        ],
        "block_anonymous": False,
    }


class FakePbx:
    """Serves a mutable directory like the CRM API (lists page with start/limit/info.next)."""

    def __init__(self) -> None:
        self.state = directory()
        self.requests: list[str] = []
        self.fail_path: str | None = None

    def groups_of(self, login: str) -> list[dict[str, Any]]:
        return [
            {"id": g["id"], "name": g["name"]}
            for g in self.state["groups"]
            if any(u["login"] == login for u in g["users"])
        ]

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/crmapi/v1/")
        self.requests.append(path)
        if path == self.fail_path:
            return httpx.Response(400, json={"error": "Validation error"})
        params = request.url.params
        if path.startswith("users/") and path.endswith("/groups"):
            login = path.split("/")[1]
            if login not in {u["login"] for u in self.state["users"]}:
                return httpx.Response(404, json={"error": "Not found"})
            return httpx.Response(200, json={"items": self.groups_of(login)})
        if path == "blacklist/telnums":
            assert params.get("with") == "statistics"
        if path in {"users", "groups", "telnums", "sims", "blacklist/telnums"}:
            items = self.state[path.split("/")[0]]
            start, limit = int(params.get("start", 0)), int(params.get("limit", 100))
            page = items[start : start + limit]
            nxt = start + limit if start + limit < len(items) else None
            info = {"total": len(items), "start": start, "limit": limit, "next": nxt}
            return httpx.Response(200, json={"items": page, "info": info})
        if path == "blacklist/block-anonymous":
            return httpx.Response(200, json={"state": self.state["block_anonymous"]})
        return httpx.Response(404, json={"error": "Not found"})


@pytest.fixture
def pbx() -> FakePbx:
    return FakePbx()


@pytest.fixture
def client(pbx: FakePbx) -> Iterator[PbxClient]:
    with PbxClient(
        "http://pbx.test/crmapi/v1",
        Secret("k"),
        transport=httpx.MockTransport(pbx.handler),
        list_limit=2,  # several pages per list
        retry=RetryPolicy(attempts=1),
    ) as c:
        yield c


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "w.duckdb", raw_dir=tmp_path / "raw", tz="Europe/Moscow")


def take(client: PbxClient, settings: Settings, at: datetime) -> snapshots.SnapshotSummary:
    return snapshots.refresh(client, settings, now=lambda: at)


def history(settings: Settings, table: str, columns: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        return con.execute(f"select {columns} from {table} order by all").fetchall()


def test_first_snapshot_then_rerun_changes_nothing(
    client: PbxClient, settings: Settings, pbx: FakePbx
) -> None:
    first = take(client, settings, T1)
    assert {t: c.opened for t, c in first.tables.items()} == {
        "users_history": 3,
        "groups_history": 2,
        "group_members_history": 2,
        "telnums_history": 1,
        "sims_history": 1,
        "blacklist_history": 3,
        "pbx_settings_history": 1,
    }
    users = history(settings, "users_history", "user_login, group_ids, valid_from, is_current")
    assert users == [
        ("anna", ["support"], T1, True),
        ("ivan", ["sales"], T1, True),
        ("oleg", [], T1, True),
    ]
    assert history(settings, "pbx_settings_history", "setting, value") == [
        ("block_anonymous", "false")
    ]
    before = {t: history(settings, t, "*") for t in snapshots.ENTITIES}
    again = take(client, settings, T1 + timedelta(hours=1))
    assert not again.changed
    assert all(c.unchanged == c.seen for c in again.tables.values())
    assert {t: history(settings, t, "*") for t in snapshots.ENTITIES} == before
    # every body archived under its endpoint kind, window [taken_at, taken_at]
    kinds = sorted(
        p.relative_to(settings.raw_dir).parts[0] for p in settings.raw_dir.rglob("*.zst")
    )
    assert set(kinds) == {
        "users", "user_groups", "groups", "telnums", "sims", "blacklist", "block_anonymous",
    }  # fmt: skip
    users_pages = list(archive.pages(settings.raw_dir, "users", "json"))
    assert len(users_pages) == 4  # 2 pages x 2 snapshots
    assert users_pages[0].window.start == users_pages[0].window.end == T1
    assert orjson.loads(users_pages[0].read())["items"][0]["login"] == "ivan"
    assert len(list((settings.raw_dir / "user_groups").iterdir())) == 3  # one folder per login


def test_move_rename_and_deletion(client: PbxClient, settings: Settings, pbx: FakePbx) -> None:
    take(client, settings, T1)
    t2 = T1 + timedelta(days=2)
    state = pbx.state
    state["groups"][0]["users"] = []  # ivan leaves sales ...
    state["groups"][1]["users"].append({"login": "ivan", "calls_enable": False})  # ... for support
    state["groups"][1]["name"] = "Служба поддержки"
    state["users"] = [u for u in state["users"] if u["login"] != "oleg"]  # oleg is deleted
    state["blacklist"][0]["week"] = 2
    state["block_anonymous"] = True
    summary = take(client, settings, t2)
    assert summary.tables["users_history"].closed == 2  # ivan changed groups, oleg is gone
    assert summary.tables["users_history"].opened == 1
    members = history(
        settings, "group_members_history", "group_id, user_login, member_position, valid_from, "
        "valid_to, is_current",
    )  # fmt: skip
    assert members == [
        ("sales", "ivan", 0, T1, t2, False),
        ("support", "anna", 0, T1, None, True),
        ("support", "ivan", 1, t2, None, True),
    ]
    users = history(settings, "users_history", "user_login, group_ids, valid_to, is_current")
    assert users == [
        ("anna", ["support"], None, True),
        ("ivan", ["sales"], t2, False),
        ("ivan", ["support"], None, True),
        ("oleg", [], t2, False),
    ]
    groups = history(settings, "groups_history", "group_id, group_name, is_current")
    assert groups == [
        ("sales", "Продажи", True),
        ("support", "Поддержка", False),
        ("support", "Служба поддержки", True),
    ]
    blacklist = history(settings, "blacklist_history", "telnum, blocked_calls_week, is_current")
    assert blacklist == [  # only the changed entry got a new version
        ("79001112200", 1, True),
        ("79001112201", 0, True),
        ("7900800*", 0, False),
        ("7900800*", 2, True),
    ]
    # the analyst views see the new state; calls_enriched sees each state at its time
    with warehouse.connect(
        settings.db_path, company=warehouse.Company.from_settings(settings)
    ) as con:
        assert con.execute("select user_login from users order by 1").fetchall() == [
            ("anna",),
            ("ivan",),
        ]
        spans = con.execute(
            "select user_department from user_department_spans where user_login = 'ivan' "
            "order by span_from"
        ).fetchall()
        assert spans == [("Продажи",), ("Служба поддержки",)]


def test_snapshot_is_one_transaction(
    client: PbxClient, settings: Settings, pbx: FakePbx, monkeypatch: pytest.MonkeyPatch
) -> None:
    take(client, settings, T1)
    before = {t: history(settings, t, "*") for t in snapshots.ENTITIES}
    pbx.state["users"][0]["position"] = "Директор"
    pbx.state["sims"] = [{"telnum": "79260000002", "user": "anna"}]
    real_insert = snapshots._insert

    def failing_insert(con: Any, entity: snapshots.Entity, rows: Any, taken_at: Any) -> None:
        if entity.table == "sims_history":
            raise RuntimeError("disk full")
        real_insert(con, entity, rows, taken_at)

    monkeypatch.setattr(snapshots, "_insert", failing_insert)
    with pytest.raises(RuntimeError):
        take(client, settings, T1 + timedelta(days=1))
    assert {t: history(settings, t, "*") for t in snapshots.ENTITIES} == before


def test_api_failure_writes_nothing_and_names_the_endpoint(
    client: PbxClient, settings: Settings, pbx: FakePbx
) -> None:
    take(client, settings, T1)
    before = {t: history(settings, t, "*") for t in snapshots.ENTITIES}
    pbx.state["users"].pop()
    pbx.fail_path = "telnums"
    with pytest.raises(errors.ApiValidationError, match="telnums"):
        take(client, settings, T1 + timedelta(days=1))
    assert {t: history(settings, t, "*") for t in snapshots.ENTITIES} == before


def test_an_older_snapshot_is_refused(client: PbxClient, settings: Settings, pbx: FakePbx) -> None:
    take(client, settings, T1)
    pbx.state["users"].pop()
    with pytest.raises(snapshots.SnapshotError, match="not newer"):
        take(client, settings, T1 - timedelta(hours=1))


def test_user_deleted_during_the_snapshot_is_left_out(
    client: PbxClient, settings: Settings, pbx: FakePbx
) -> None:
    original = pbx.handler

    def vanishing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users/oleg/groups"):
            return httpx.Response(404, json={"error": "Not found"})
        return original(request)

    pbx.handler = vanishing  # type: ignore[method-assign]
    with PbxClient(
        "http://pbx.test/crmapi/v1", Secret("k"), transport=httpx.MockTransport(vanishing)
    ) as c:
        take(c, settings, T1)
    assert [r[0] for r in history(settings, "users_history", "user_login")] == ["anna", "ivan"]


def test_unknown_list_shape_fails_loudly(settings: Settings) -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with (
        PbxClient(
            "http://pbx.test/crmapi/v1", Secret("k"), transport=httpx.MockTransport(html)
        ) as c,
        pytest.raises(errors.UnknownShape, match="users"),
    ):
        take(c, settings, T1)


@pytest.mark.parametrize("how", ["--tz", "accounts file"])
def test_a_snapshot_keeps_the_zone_of_its_settings(
    how: str, client: PbxClient, tmp_path: Path
) -> None:
    """A snapshot stored outside any flow keeps the zone of the settings it is given (an
    account in Asia/Tokyo, or --tz), not the environment's default (Europe/Moscow): every
    local day and working hour of the views is cut in kpi_settings.tz."""
    from vats_etl.accounts import load_accounts
    from vats_etl.config import load_settings

    where = {"db_path": tmp_path / "w.duckdb", "raw_dir": tmp_path / "raw"}
    if how == "--tz":  # what the option does to the command's settings
        settings = load_settings({**where, "tz": "Asia/Tokyo"}, environ={}, env_file=None)
    else:
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(
            '[accounts.tokyo]\nbase_url = "pbx.test"\nkey_env = "TOKYO_KEY"\ntz = "Asia/Tokyo"\n',
            "utf-8",
        )
        base = load_settings(environ={}, env_file=None)
        settings = load_accounts(accounts).settings("tokyo", base, {})
    assert settings.tz == "Asia/Tokyo"

    take(client, settings, T1)

    with duckdb.connect(str(settings.db_path)) as con:
        # Monday 4 March 2024: 13:00 UTC is 22:00 in Tokyo (after hours, 16:00 in Moscow);
        # 16:30 UTC is Tuesday in Tokyo (still Monday in Moscow)
        con.execute(
            "insert into calls (uid, direction, status, started_at, source, loaded_at) values "
            "('C-day', 'in', 'success', '2024-03-04 13:00:00+00', 'api_json', now()), "
            "('C-night', 'in', 'success', '2024-03-04 16:30:00+00', 'api_json', now())"
        )
        assert con.execute("select tz from kpi_settings").fetchall() == [("Asia/Tokyo",)]
        days = con.execute("select uid, local_date, hours from inbound_calls order by uid")
        assert days.fetchall() == [
            ("C-day", date(2024, 3, 4), "after_hours"),
            ("C-night", date(2024, 3, 5), "after_hours"),
        ]


# -- the flow, `daily` and the CLI against the emulator over a socket -------------------------

EMU_NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
EMU_KEY = "snapshot-test-key-0123456789"


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    from vats_etl.emulator import Emulator, EmulatorServer

    emu = Emulator(seed=3, agents=12, profile="realistic", clock=lambda: EMU_NOW)
    with EmulatorServer(emu, api_key=EMU_KEY) as server:
        yield server.base_url


def emulator_settings(url: str, tmp: Path) -> Settings:
    from vats_etl.config import load_settings

    values = {"base_url": url, "api_key": EMU_KEY, "db_path": tmp / "v.duckdb"}
    return load_settings({**values, "raw_dir": tmp / "raw"}, environ={}, env_file=None)


@pytest.mark.slow
def test_snapshot_flow_and_daily(
    prefect_harness: None, emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vats_etl.flows import runtime
    from vats_etl.flows.daily import daily
    from vats_etl.flows.snapshot import snapshot

    settings = emulator_settings(emulator_url, tmp_path)
    clock = [EMU_NOW]
    with runtime.using(runtime.Runtime(settings, clock=lambda: clock[0])):
        first = snapshot()
        assert first.changed and first.tables["users_history"].opened >= 12
        clock[0] += timedelta(minutes=5)
        summary = daily(("external",))
        assert summary.status == "ok", summary.failures
    assert settings.read_db_path.exists()
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        # daily snapshotted first (nothing changed: no new versions) and then loaded history
        assert con.execute("select count(distinct valid_from) from users_history").fetchall() == [
            (1,)
        ]
        assert con.execute("select count(*) > 1000 from calls").fetchall() == [(True,)]
        unknown = con.execute(
            "select count(*) filter (where user_position is null), count(*) from calls_enriched "
            "where user_login is not null and local_date = '2024-06-10'"
        ).fetchall()
        assert unknown[0][0] == 0 < unknown[0][1]  # the day's employees are all in the directory

    # a directory that cannot be read fails the run, but the history is still loaded
    def broken(self: Any, *args: Any) -> Any:
        raise errors.CrmDisabled("GET users: 401 CRM disabled", status=401, endpoint="users")

    monkeypatch.setattr(PbxClient, "list_pages", broken)
    clock[0] += timedelta(hours=1)
    with runtime.using(runtime.Runtime(settings, clock=lambda: clock[0])):
        summary = daily(("external",))
    assert summary.status == "failed"
    assert summary.failures == [("directory snapshot", "GET users: 401 CRM disabled")]
    assert summary.totals["external"].chunks == 2 and summary.totals["external"].rows_loaded > 0


@pytest.mark.slow
def test_snapshot_command(prefect_api_url: str, emulator_url: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATS_", "PREFECT_"))}
    env.update(
        VATS_BASE_URL=emulator_url,
        VATS_API_KEY=EMU_KEY,
        VATS_DB=str(tmp_path / "v.duckdb"),
        VATS_RAW_DIR=str(tmp_path / "raw"),
        PREFECT_API_URL=prefect_api_url,
        PREFECT_LOGGING_LEVEL="WARNING",
    )

    def vats(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, **more},
        )

    first = vats("snapshot")
    assert first.returncode == 0, first.stderr
    assert "users_history" in first.stderr and "changes recorded" in first.stderr
    again = vats("snapshot")
    assert again.returncode == 0 and "no change since the last snapshot" in again.stderr
    rejected = vats("snapshot", VATS_API_KEY="wrong-key-000")
    assert rejected.returncode == 1
    assert rejected.stderr.startswith("error: ") and rejected.stderr.count("\n") == 1
    assert "Invalid token" in rejected.stderr and "wrong-key-000" not in rejected.stderr
