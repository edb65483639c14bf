"""Every expected failure ends a command with one line on stderr and the README's exit code —
never a traceback. Each test runs a real `vats-etl` process; the API is the
emulator over loopback, email goes to a real SMTP server on loopback (aiosmtpd).

Commands that fail before running a flow are given the session's Prefect API, so they start
no temporary server; the tests of the temporary server itself are at the end.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import zstandard

from tests.support.emulated import API_KEY, environment, query
from tests.support.processes import vats
from vats_etl import warehouse

# every test runs a vats-etl process
pytestmark = pytest.mark.slow

DAY = ("--from", "2024-06-03", "--to", "2024-06-03")
UNREACHABLE = "http://127.0.0.1:9/crmapi/v1"  # the discard port: nothing listens


def one_line(result: subprocess.CompletedProcess[str], code: int, *expected: str) -> str:
    """The result failed with `code` and exactly one line on stderr, naming `expected`."""
    err = result.stderr
    assert result.returncode == code, f"exit code {result.returncode} (negative: a signal): {err}"
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("error: "), err
    for text in expected:
        assert text in err, err
    return err


@pytest.fixture
def env(server, tmp_path: Path, prefect_api_url: str) -> dict[str, str]:
    return environment(tmp_path, server.base_url, prefect_api_url)


def make_warehouse(path: Path) -> Path:
    """A real warehouse file: every relation of sql/, a few thousand calls."""
    from tests.support.warehouse_rows import T0, call, insert_calls

    with warehouse.connect(path, company=warehouse.Company("Europe/Moscow")) as con:
        insert_calls(
            con, [call(f"u{i}", client=f"7900{i:07d}", started_at=T0) for i in range(3000)]
        )
    return path


# -- usage errors: exit 2 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("backfill", "--from", "2024-13-01", "--to", "2024-06-03"), "--from"),
        (("backfill", "--from", "2024-06-07", "--to", "2024-06-03"), "--to"),
        (("replay", "--from", "2024-06-07", "--to", "2024-06-03"), "--to"),
        (("report", "--week", "2026-W99"), "2026 has no ISO week 99"),
        (("report", "--week", "47"), "2026-W47"),
        (("email-weekly", "--week", "2026-W99", "--dry-run"), "2026 has no ISO week 99"),
        (("backfill", "--kinds", "calls", *DAY), "--kinds"),
    ],
)
def test_usage_errors_exit_2_in_one_line(args, named, env):
    result = vats(*args, env=env)
    one_line(result, 2, named)
    assert "vats-etl" in result.stderr  # where to look: the command's --help


# -- the API: rejected key, unreachable host: seconds, nothing planned ------------------------


@pytest.mark.parametrize("command", ["backfill", "daily", "snapshot"])
def test_rejected_key_fails_in_seconds_before_planning(command, env, tmp_path):
    env["VATS_API_KEY"] = "wrong-key-0987654321"
    args = (command, *DAY) if command == "backfill" else (command,)
    started = time.monotonic()
    result = vats(*args, env=env)
    elapsed = time.monotonic() - started
    err = one_line(result, 1, "401 Invalid token")
    assert "wrong-key-0987654321" not in err + result.stdout
    assert elapsed < 20, elapsed  # a process start and one refused request, not 18-27 s
    assert not (tmp_path / "raw").exists() and not (tmp_path / "vats.duckdb").exists()


@pytest.mark.parametrize("command", ["backfill", "daily", "snapshot", "check"])
def test_unreachable_host_fails_in_seconds_before_planning(command, env, tmp_path):
    env["VATS_BASE_URL"] = UNREACHABLE
    args = (command, *DAY) if command == "backfill" else (command,)
    started = time.monotonic()
    result = vats(*args, env=env)
    elapsed = time.monotonic() - started
    one_line(result, 1, "127.0.0.1:9", "gave up", "connection error")
    assert elapsed < 20, elapsed
    assert not (tmp_path / "raw").exists() and not (tmp_path / "vats.duckdb").exists()


def test_verbose_shows_the_traceback_too(env):
    env["VATS_API_KEY"] = "wrong-key-0987654321"
    result = vats("-v", "backfill", *DAY, env=env)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "InvalidToken" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: ")


# -- the warehouse: locked, garbage, truncated, read-only, under a file, full -----------------


@contextmanager
def holding(db: Path) -> Iterator[int]:
    """Another process keeps the DuckDB file open for writing (an analyst's session)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('holding', flush=True); time.sleep(120)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_locked_warehouse_is_named_with_its_holder(env, tmp_path):
    db = make_warehouse(tmp_path / "vats.duckdb")
    env["VATS_DB_LOCK_TIMEOUT"] = "1"
    with holding(db) as pid:
        result = vats("backfill", *DAY, env=env)
    one_line(result, 1, f"is held by process {pid}", "VATS_DB_LOCK_TIMEOUT")
    assert not (tmp_path / "raw").exists()  # nothing was fetched for a warehouse it cannot write


def garbage(db: Path) -> None:
    db.write_bytes(os.urandom(300_000))


def truncated(db: Path) -> None:
    make_warehouse(db)
    with open(db, "r+b") as handle:
        handle.truncate(db.stat().st_size // 2)


@pytest.mark.parametrize("damage", [garbage, truncated], ids=["garbage", "truncated"])
@pytest.mark.parametrize(
    "args",
    [
        ("backfill", *DAY),
        ("daily",),
        ("snapshot",),
        ("replay",),
        ("report",),
        ("email-weekly", "--week", "2024-W23", "--dry-run"),
        ("contacts-import", "CONTACTS"),
    ],
    ids=lambda args: args[0],
)
def test_a_damaged_warehouse_is_one_line(args, damage: Callable[[Path], None], env, tmp_path):
    db = tmp_path / "vats.duckdb"
    damage(db)
    before = db.read_bytes()
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone,contact_name\n79001112233,Иван\n", "utf-8")
    args = tuple(str(contacts) if a == "CONTACTS" else a for a in args)
    result = vats(*args, env=env)
    one_line(result, 1, str(db))
    assert db.read_bytes() == before  # nothing written over it


def test_read_only_warehouse_is_one_line(env, tmp_path):
    """The file's write permission is off. Root ignores permissions, so as root the command
    runs without CAP_DAC_OVERRIDE (setpriv), which makes the kernel check them again."""
    db = make_warehouse(tmp_path / "vats.duckdb")
    db.chmod(0o444)
    prefix: list[str] = []
    command = ("backfill", *DAY)
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file read-only")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    result = subprocess.run(
        [*prefix, sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    one_line(result, 1, str(db), "Permission denied")


@pytest.mark.parametrize("option", ["--db", "--raw-dir"])
def test_a_path_under_a_file_is_one_line(option, env, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    result = vats(option, str(afile / "inside"), "backfill", *DAY, env=env)
    one_line(result, 1, str(afile))


@pytest.mark.parametrize("command", [("backfill", *DAY), ("report",)], ids=lambda c: c[0])
def test_a_warehouse_that_is_a_folder_is_one_line(command, env, tmp_path):
    folder = tmp_path / "folder.duckdb"
    folder.mkdir()
    one_line(vats("--db", str(folder), *command, env=env), 1, str(folder))


def test_report_into_a_file_is_one_line(env, tmp_path):
    make_warehouse(tmp_path / "vats.duckdb")
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    one_line(vats("report", "--out", str(afile / "out"), env=env), 1, str(afile))


def test_replay_without_an_archive_is_one_line(env, tmp_path):
    one_line(vats("replay", env=env), 1, "no archived history pages", str(tmp_path / "raw"))


def limit_file_size(limit: int) -> Callable[[], None]:
    """RLIMIT_FSIZE for the child: a write past `limit` bytes of any file fails with EFBIG
    ("File too large") exactly where a full disk fails with ENOSPC — Python ignores SIGXFSZ.
    Unlike a small tmpfs or loop device, it needs no root."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_under_the_archive_leaves_no_partial_files(env, tmp_path):
    """Archived pages are tens of kB; 16 kB lets the warehouse's small writes through but no
    page: the run stops at the first page, in one line, and leaves nothing half-written."""
    db = make_warehouse(tmp_path / "vats.duckdb")
    calls = query(db, "select count(*) from calls")
    result = vats(
        "backfill",
        "--from",
        "2024-06-03",
        "--to",
        "2024-06-05",
        env=env,
        preexec_fn=limit_file_size(16 * 1024),
    )
    one_line(result, 1, "cannot write", str(tmp_path / "raw"), "File too large")
    files = [p for p in (tmp_path / "raw").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith(".tmp")]
    for path in files:  # whatever did get written is whole
        zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 30)
    assert query(db, "select count(*) from calls") == calls  # no row of the failed run
    # nothing is lost: with room again, the same command loads the days
    assert vats("backfill", "--from", "2024-06-03", "--to", "2024-06-05", env=env).returncode == 0


def test_full_disk_under_the_warehouse_is_one_line(env, tmp_path):
    """The archive's pages fit; the warehouse file cannot grow past its current size."""
    db = make_warehouse(tmp_path / "vats.duckdb")
    result = vats("backfill", *DAY, env=env, preexec_fn=limit_file_size(db.stat().st_size + 4096))
    one_line(result, 1, str(db), "File too large")
    assert not [p for p in tmp_path.rglob("*.tmp")]
    again = vats("backfill", *DAY, env=env)
    assert again.returncode == 0, again.stderr
    assert query(db, "select count(*) > 0 from calls") == [(True,)]


# -- email ------------------------------------------------------------------------------------


@pytest.fixture
def mail_env(tmp_path: Path) -> dict[str, str]:
    from tests.support.warehouse_rows import T0, call, insert_calls

    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        insert_calls(con, [call("m1", status="missed", started_at=T0)])
    warehouse.publish_read_copy(db)
    return environment(
        tmp_path,
        "",
        VATS_DB=str(db),
        SMTP_HOST="127.0.0.1",
        SMTP_SECURITY="none",
        REPORT_FROM="reports@example.ru",
        REPORT_TO="boss@example.ru",
    )


def test_smtp_connection_refused_is_one_line(mail_env):
    from tests.support.processes import free_port

    mail_env["SMTP_PORT"] = str(free_port())
    result = vats("email-weekly", "--week", "2024-W10", env=mail_env)
    one_line(result, 1, "cannot connect to SMTP", "Connection refused")


def test_smtp_recipient_refused_is_one_line(mail_env):
    from tests.support.smtp import smtp_server

    with smtp_server(refuse={"boss@example.ru"}) as (inbox, port):
        mail_env["SMTP_PORT"] = str(port)
        result = vats("email-weekly", "--week", "2024-W10", env=mail_env)
    one_line(result, 1, "NOT sent", "roll-up")
    assert "every recipient refused" in result.stdout and inbox.received == []


# -- Prefect's temporary server ---------------------------------------------------------------


def test_prefect_server_that_cannot_start_is_one_line(server, tmp_path):
    """No PREFECT_API_URL, and a server that cannot open its database: two attempts, then one
    line saying what to do. The load begun meanwhile stopped; it wrote whole chunks only."""
    env = environment(
        tmp_path,
        server.base_url,
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path}/afile/x.db",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="60",
    )
    (tmp_path / "afile").write_text("not a folder")
    started = time.monotonic()
    result = vats("backfill", *DAY, env=env)
    one_line(result, 1, "Prefect's temporary server did not start", "PREFECT_API_URL")
    assert "exited with code" in result.stderr  # seen at once, not after the timeout
    assert time.monotonic() - started < 60
    db = tmp_path / "vats.duckdb"
    [(runs,)] = query(db, "select count(*) from load_runs")
    assert runs in (0, 1, 2)  # the day's two chunks, one of them, or none: whole chunks only
    assert query(db, "select count(*) - count(distinct uid) from calls") == [(0,)]


@pytest.mark.parametrize("command", [("backfill", *DAY), ("snapshot",)])
def test_a_named_prefect_server_that_does_not_answer_is_one_line(command, server, tmp_path):
    """PREFECT_API_URL names a server that is down: one line naming it, in seconds — not
    Prefect's traceback after its own retries."""
    env = environment(tmp_path, server.base_url, "http://127.0.0.1:9/api")
    started = time.monotonic()
    result = vats(*command, env=env)
    one_line(result, 1, "PREFECT_API_URL=http://127.0.0.1:9/api does not answer", "ConnectError")
    assert time.monotonic() - started < 60


def busy_loops(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


@pytest.mark.slow
def test_saturated_machine_completes_or_fails_in_one_line(server, tmp_path):
    """Both cores busy with other work; no PREFECT_API_URL, a Prefect home of its own (so the
    first command also migrates Prefect's database): `snapshot` and a one-day `backfill`
    complete, or fail with one line — never a traceback."""
    env = environment(tmp_path, server.base_url, PREFECT_HOME=str(tmp_path / "prefect"))
    loops = busy_loops(os.cpu_count() or 2)
    try:
        results = [
            vats("snapshot", env=env, timeout=400),
            vats("backfill", *DAY, env=env, timeout=400),
        ]
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        if result.returncode != 0:
            one_line(result, 1)
    snapshot, backfill = results
    if snapshot.returncode == 0:
        assert "snapshot" in snapshot.stderr and "requests" in snapshot.stderr
    if backfill.returncode == 0:
        assert "rows in" in backfill.stderr
        assert query(
            tmp_path / "vats.duckdb",
            "select count(distinct day) from load_runs where kind in ('external', 'internal')",
        ) == [(1,)]
    assert API_KEY not in snapshot.stderr + backfill.stderr
