"""Analysts and flows share the DuckDB file: a second *process* holds it open during a run."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.support.emulated import load, query
from vats_etl import errors, warehouse

# another process holds the warehouse
pytestmark = pytest.mark.slow

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
before = con.execute("select count(*) from calls").fetchall()[0][0]
print(before, flush=True)
time.sleep(float(sys.argv[2]))
after = con.execute("select count(*) from calls").fetchall()[0][0]
print(after, flush=True)
"""


def hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the session is open and has read once
    return proc


def test_an_open_read_copy_never_blocks_a_run_and_keeps_working(settings):
    load(settings, date(2024, 6, 3), date(2024, 6, 3))
    copy = warehouse.publish_read_copy(settings.db_path)
    analyst = hold(copy, 4)
    started = time.monotonic()
    load(settings, date(2024, 6, 4), date(2024, 6, 5))
    warehouse.publish_read_copy(settings.db_path)  # replaces the file the analyst has open
    assert time.monotonic() - started < 4  # did not wait for the analyst
    out, _ = analyst.communicate(timeout=30)
    assert analyst.returncode == 0
    # the analyst's session kept reading its snapshot; a new session sees the new data
    day_one = query(
        settings.db_path, "select count(*) from calls where started_at < '2024-06-03 21:00:00+00'"
    )
    assert int(out.strip()) == day_one[0][0]
    with warehouse.connect(copy, read_only=True) as con:
        assert con.execute("select count(*) from calls").fetchall() == query(
            settings.db_path, "select count(*) from calls"
        )


def test_a_writer_waits_for_a_brief_holder_of_the_main_file(settings):
    load(settings, date(2024, 6, 3), date(2024, 6, 3))
    analyst = hold(settings.db_path, 1.5)
    started = time.monotonic()
    summary = load(settings, date(2024, 6, 4), date(2024, 6, 4))
    waited = time.monotonic() - started
    analyst.wait(30)
    assert summary.status == "ok"
    assert waited >= 1.0  # it waited for the lock, then loaded


def test_a_long_holder_gives_a_clear_error_naming_the_process(settings):
    load(settings, date(2024, 6, 3), date(2024, 6, 3))
    analyst = hold(settings.db_path, 10)
    try:
        with (
            pytest.raises(errors.DatabaseBusy) as info,
            warehouse.connect(settings.db_path, company=None, timeout_s=1),
        ):
            pass
        message = str(info.value)
        assert f"process {analyst.pid}" in message and "vats.read.duckdb" in message
    finally:
        analyst.kill()
        analyst.wait()
