"""A full disk on a real filesystem (a 5 MB tmpfs): backfill, daily, snapshot, the webhook
receiver and the catalog each end in one `error:` line, leave nothing half-written (no
temporary file, every archived page whole, a warehouse that opens), and the same command
completes once there is room again. Each runs a real `vats-etl` process.

(The load's own paths with a simulated ENOSPC, where mounting is not allowed:
test_cli_errors.py.)"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import httpx
import pytest
import zstandard

from tests.support.disks import fill, grow, tiny_disk
from tests.support.emulated import environment, span
from tests.support.processes import vats
from tests.webhook.support import TOKEN, cli_receiver, history, query, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DAYS = ("--from", "2024-06-03", "--to", "2024-06-04")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    yield from tiny_disk(tmp_path / "disk", "5m")


def failed_in_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    err = result.stderr
    assert result.returncode == 1, f"exit {result.returncode}: {err}"
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for text in expected:
        assert text in err, err
    return lines[0]


def nothing_half_written(disk: Path) -> None:
    """No temporary file; every archived page decompresses; the warehouse opens."""
    assert not [p for p in disk.rglob("*") if p.name.endswith(".tmp")]
    for page in disk.rglob("*.zst"):
        zstandard.ZstdDecompressor().decompress(page.read_bytes(), max_output_size=1 << 30)
    for db in disk.glob("*.duckdb"):
        assert db.stat().st_size > 0, db
        from vats_etl import warehouse

        with warehouse.connect(db, read_only=True) as con:
            con.execute("select count(*) from calls").fetchall()


def calls(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {row[0] for row in con.execute("select uid from calls").fetchall()}


@pytest.mark.parametrize("command", [("backfill", *DAYS), ("daily",), ("snapshot",)])
def test_a_full_disk_is_one_line_and_the_rerun_completes(
    command, disk, server, prefect_api_url
) -> None:
    env = environment(disk, server.base_url, prefect_api_url, VATS_DASHBOARDS_DIR=str(disk))
    failed_in_one_line(vats(*command, env=env), "No space left on device")
    nothing_half_written(disk)
    grow(disk)  # room again
    again = vats(*command, env=env)
    assert again.returncode == 0, again.stderr
    if command[0] == "backfill":  # every call of the days, each once
        window = span(date(2024, 6, 3), date(2024, 6, 4))
        truth = {r["uid"] for r in server.emu.external_calls(window) if not r["malformed"]}
        assert calls(disk / "vats.duckdb") == truth
    assert (disk / "vats.read.duckdb").exists() or command[0] == "snapshot"


def test_the_webhook_receiver_on_a_full_disk_is_one_line_then_serves(disk: Path) -> None:
    filler = fill(disk)
    env = environment(disk, "", VATS_CRM_TOKEN=TOKEN, VATS_DB_LOCK_TIMEOUT="1")
    failed_in_one_line(
        vats("webhook", "--port", "0", env=env, timeout=120), str(disk), "No space left"
    )
    assert sorted(p.name for p in disk.iterdir() if p.is_file()) == ["filler"]  # no empty file
    filler.unlink()
    with cli_receiver(disk) as (_, url):
        assert httpx.post(url, json=history("FULL-1"), timeout=10).status_code == 200
        wait_until(lambda: ("FULL-1",) in query_quietly(disk / "vats.duckdb"), timeout=30)


def query_quietly(db: Path) -> list[tuple[object, ...]]:
    """The calls of a warehouse a receiver is writing: none while it holds the file."""
    try:
        return query(db, "select uid from calls")
    except duckdb.Error:
        return []


def test_the_catalog_on_a_full_disk_is_one_line_then_builds(tmp_path: Path, disk: Path) -> None:
    from vats_etl import warehouse
    from vats_etl.accounts import load_accounts

    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'catalog = "{disk / "catalog.duckdb"}"\n'
        '[accounts.acme]\nbase_url = "http://127.0.0.1:9/acme"\nkey_env = "ACME_KEY"\n'
        'tz = "Europe/Moscow"\n',
        "utf-8",
    )
    acme = load_accounts(accounts).get("acme")
    with warehouse.connect(
        acme.db_path, company=warehouse.Company("Europe/Moscow", account="acme")
    ):
        pass
    warehouse.publish_read_copy(acme.db_path)
    env = environment(tmp_path, "", VATS_ACCOUNTS=str(accounts))
    filler = fill(disk)
    failed = vats("catalog", env=env)
    failed_in_one_line(failed, f"cannot write the catalog {disk / 'catalog.duckdb'}", "No space")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    filler.unlink()
    built = vats("catalog", "--query", "select account, status from catalog_accounts", env=env)
    assert built.returncode == 0, built.stderr
    assert "acme" in built.stdout and "ok" in built.stdout
