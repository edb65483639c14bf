"""The built package works where packages really go: a wheel installed (not editable) into an
environment of its own, run from a folder that has nothing of the checkout.

The wheel and the sdist are built offline from a copy of the checkout with the development
environment's setuptools. The fresh environment gets the dependencies (not the package) from
the development environment through a ``.pth`` line: a folder added that way has its own
``.pth`` files ignored, so the editable install of the checkout stays out of sight, and the
test asserts that vats_etl is imported from the fresh environment.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", "data", "out"
)


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout, so that building leaves nothing in it."""
    copy = tmp_path_factory.mktemp("source") / "vats-etl"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCE, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    run(
        *pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", ".", "-w", out, cwd=source
    )
    (built,) = out.glob("vats_etl-*.whl")
    return built


def test_the_wheel_carries_everything_the_code_reads_under_one_package(
    source: Path, wheel: Path
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["vats_etl"]
    library = source / "vats_etl"
    expected = {
        f"vats_etl/{path.relative_to(library).as_posix()}"
        for path in library.rglob("*")
        if path.is_file()
    }
    expected |= {f"vats_etl/flows/{path.name}" for path in (source / "flows").glob("*.py")}
    expected |= {f"vats_etl/sql/{path.name}" for path in (source / "sql").iterdir()}
    assert {"vats_etl/py.typed", "vats_etl/sql/calls.sql", "vats_etl/flows/daily.py"} <= expected
    assert any(name.startswith("vats_etl/templates/") for name in expected)
    assert sorted(expected - names) == []
    assert sorted(n for n in names if not n.startswith(("vats_etl/", "vats_etl-"))) == []


def test_the_sdist_carries_the_sql_and_the_flows(
    source: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("sdist")
    build = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    name = run(sys.executable, "-c", build, cwd=source).split()[-1]
    with tarfile.open(out / name) as archive:
        names = {
            member.name.split("/", 1)[1] for member in archive.getmembers() if "/" in member.name
        }
    for folder, suffix in (("sql", ".sql"), ("flows", ".py")):
        wanted = {f"{folder}/{path.name}" for path in (source / folder).glob(f"*{suffix}")}
        assert wanted and sorted(wanted - names) == []
    assert "vats_etl/templates/email.html" in names


def test_an_installed_wheel_runs_the_demo_from_any_folder(
    wheel: Path, prefect_api_url: str, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=tmp_path)
    python = env_dir / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python)
    run(*pip, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    fresh_site = Path(
        run(python, "-c", "import site; print(site.getsitepackages()[0])", cwd=tmp_path).strip()
    )
    # the dependencies, after the install (pip must not see the development environment)
    dev_site = next(p for p in site.getsitepackages() if Path(p, "polars").is_dir())
    (fresh_site / "dev-dependencies.pth").write_text(f"{dev_site}\n", "utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VATS_", "PREFECT_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env.update(
        PREFECT_API_URL=prefect_api_url,
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        VATS_DASHBOARDS_DIR=str(elsewhere / "dashboards"),
    )
    where = run(
        python,
        "-c",
        "import importlib.util, vats_etl, vats_etl.flows.daily, vats_etl.sql;"
        "print(vats_etl.__file__); print(vats_etl.flows.daily.__file__);"
        "print(importlib.util.find_spec('flows'))",
        cwd=elsewhere,
        env=env,
    ).split()
    assert all(Path(path).is_relative_to(env_dir) for path in where[:2]), where
    assert where[2] == "None"  # no top-level package `flows`

    db = elsewhere / "vats.duckdb"
    run(
        env_dir / "bin" / "vats-etl",
        *("--db", db, "--raw-dir", elsewhere / "raw", "--tz", "Asia/Tokyo"),
        *("demo", "--days", "2", "--agents", "8", "--faults", ""),
        cwd=elsewhere,
        env=env,
    )
    query = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True);"
        'print(json.dumps(con.sql("select (select tz from kpi_settings), count(*), sum(offered) '
        'from kpi_daily where is_total").fetchall()[0]))'
    )
    read_copy = elsewhere / "vats.read.duckdb"
    tz, day_rows, offered = json.loads(run(python, "-c", query, read_copy, cwd=elsewhere, env=env))
    assert tz == "Asia/Tokyo"  # the zone given on the command line, in the views' settings
    assert day_rows >= 2 and offered > 0
    assert (elsewhere / "dashboards" / "overview.html").is_file()
