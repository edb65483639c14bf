"""A small warehouse for the dashboard, email and browser tests: three weeks of a 12-agent
emulated company (its ground truth, loaded as the pipeline would) plus hostile rows — an
employee, a department and a number dialled whose names are HTML/JS, and a recording link
that is a `javascript:` URL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report_bench import build_warehouse
from vats_etl.config import Settings, load_settings
from vats_etl.emulator import Emulator
from vats_etl.reports import Period

FIRST, LAST = date(2024, 5, 20), date(2024, 6, 9)  # Monday .. Sunday: W21, W22, W23
WEEK = Period.week("2024-W23")  # 3-9 June 2024
NOW = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
XSS_NAME = "<script>alert(1)</script>"
XSS_DEPARTMENT = "Отдел <img src=x onerror=alert(2)>"
XSS_NUMBER = "<b onmouseover=alert(3)>74950000000</b>"
BAD_RECORD = "javascript:alert(4)"
# Monday 3 June 2024, 12:00 Moscow
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def hostile_calls() -> list[dict[str, Any]]:
    """12 answered inbound calls of the `<script>` employee rated 5 (so it is ranked and
    charted), one rated 1 with a javascript: recording link, a miss nobody called back in
    a department and on a number with HTML in their names, a miss that rang at that employee,
    and one that employee called back."""
    rows: list[dict[str, Any]] = []
    base = {
        "direction": "in",
        "status": "success",
        "diversion": XSS_NUMBER,
        "destination": "user",
        "user_login": "xss",
        "user_name": XSS_NAME,
        "group_name": XSS_DEPARTMENT,
        "wait_s": 7,
        "duration_s": 95,
        "record_url": "https://pbx.example/records/x.mp3",
        "rating": 5,
    }
    for i in range(12):
        rows.append(
            {
                **base,
                "uid": f"xss-{i:02d}",
                "client": f"7999000{i:04d}",
                "started_at": T0 + timedelta(hours=i % 6, minutes=7 * i),
            }
        )
    rows.append(
        {
            **base,
            "uid": "xss-low",
            "client": "79990009999",
            "started_at": T0 + timedelta(days=1, hours=2),
            "rating": 1,
            "record_url": BAD_RECORD,
        }
    )
    rows.append(
        {
            **base,
            "uid": "xss-miss",
            "client": "79990008888",
            "status": "missed",
            "destination": "group",
            "user_login": None,
            "user_name": None,
            "wait_s": 40,
            "duration_s": 0,
            "record_url": None,
            "rating": None,
            "started_at": T0 + timedelta(days=2, hours=1),
        }
    )
    # a miss the PBX delivered to the `<script>` employee: it owns the worklist row
    rows.append(
        {
            **base,
            "uid": "xss-owned",
            "client": "79990007777",
            "status": "missed",
            "wait_s": 30,
            "duration_s": 0,
            "record_url": None,
            "rating": None,
            "started_at": T0 + timedelta(days=3, hours=1),
        }
    )
    # a miss the `<script>` employee called back 2 hours later: the slow call-backs table names it
    rows.append(
        {
            **rows[-2],
            "uid": "xss-recovered",
            "client": "79990006666",
            "started_at": T0 + timedelta(days=3, hours=2),
        }
    )
    rows.append(
        {
            **base,
            "uid": "xss-callback",
            "client": "79990006666",
            "direction": "out",
            "destination": None,
            "group_name": None,
            "rating": None,
            "started_at": T0 + timedelta(days=3, hours=4),
        }
    )
    return rows


def emulator() -> Emulator:
    return Emulator(seed=11, agents=12, profile="clean", clock=lambda: NOW)


def build(tmp: Path) -> Settings:
    """The warehouse (and its read copy) under `tmp`; settings that point at it."""
    db = tmp / "vats.duckdb"
    build_warehouse(db, emulator(), FIRST, LAST, extra_calls=hostile_calls())
    return settings_for(db)


def settings_for(db: Path, **more: Any) -> Settings:
    values = {"db_path": db, "raw_dir": db.parent / "raw", "tz": "Europe/Moscow", **more}
    return load_settings(values, environ={}, env_file=None)


def cli(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """Run `vats-etl ARGS` in this process the way the console script does (run_cli: one-line
    errors, exit codes); returns (exit code, stdout, stderr)."""
    import sys

    from click.testing import CliRunner

    from vats_etl.cli import run_cli

    argv = sys.argv
    with CliRunner().isolation(env=env) as (out, err, _):
        sys.argv = ["vats-etl", *args]
        try:
            run_cli()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = argv
    return code, out.getvalue().decode(), err.getvalue().decode()
