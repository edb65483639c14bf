"""Copies of recordings against the emulator over a real socket: what the reports point to or
all, whole files next to the raw archive, 404/410 noted once and never asked again, 5xx
retried, a stopped run resumed, bounded concurrency, retention, the key nowhere but in the
header; the command as a user runs it."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import disks
from tests.support.emulated import (
    API_KEY,
    FAST_RETRY,
    FIRST,
    clock,
    company,
    environment,
    load,
    make_settings,
    query,
    served,
)
from tests.support.processes import vats
from vats_etl import errors, recordings
from vats_etl.client import PbxClient
from vats_etl.config import Secret, Settings
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.emulator.recordings import audio
from vats_etl.periods import local_date

# the emulator over sockets, whole loads, Prefect: the full suite's, not the fast lane's
pytestmark = pytest.mark.slow

TODAY = local_date(clock(), company().zone)


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return company("platform")


@pytest.fixture(scope="module")
def server(emu: Emulator) -> Iterator[EmulatorServer]:
    with served(emu) as srv:
        yield srv


@pytest.fixture
def settings(server: EmulatorServer, tmp_path: Path) -> Settings:
    loaded = make_settings(server.base_url, tmp_path)
    assert load(loaded, FIRST, TODAY).status == "ok"
    return loaded


class Counting(httpx.HTTPTransport):
    """httpx's transport, counting the requests in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.now = self.most = self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.now += 1
            self.sent += 1
            self.most = max(self.most, self.now)
        try:
            return super().handle_request(request)
        finally:
            with self.lock:
                self.now -= 1


def client_of(settings: Settings, transport: httpx.BaseTransport | None = None) -> PbxClient:
    return PbxClient(
        settings.base_url or "", Secret(API_KEY), retry=FAST_RETRY, transport=transport
    )


def copy(settings: Settings, **options: object) -> recordings.Summary:
    with client_of(settings) as client:
        return recordings.copy(settings, client, keep_days=0, **options)  # type: ignore[arg-type]


def table(settings: Settings) -> dict[str, tuple[object, ...]]:
    found = query(settings.db_path, "select uid, status, path, bytes, sha256 from recordings")
    return {uid: rest for uid, *rest in found}  # type: ignore[misc]


def test_the_reported_recordings_are_copied_whole_and_once(settings, emu, server):
    reported = dict(query(settings.db_path, "select uid, record_url from reported_recordings"))
    reasons = query(
        settings.db_path,
        "select distinct unnest(reasons) from reported_recordings order by 1",
    )
    assert reasons == [("late_call_back",), ("lost_client",), ("low_rating",)]
    transport = Counting()
    with client_of(settings, transport) as client:
        summary = recordings.copy(settings, client, concurrency=3, keep_days=0)
    assert transport.most <= 3  # bounded concurrency
    assert transport.sent == len(reported) == summary.wanted > 20
    held = table(settings)
    assert held.keys() == reported.keys()
    statuses = [status for status, *_ in held.values()]
    assert statuses.count("copied") == summary.copied > 0
    assert statuses.count("deleted") == summary.deleted
    assert statuses.count("expired") == summary.expired
    root = settings.raw_dir.parent / "recordings"
    for uid, (status, path, size, digest) in held.items():
        if status != "copied":
            assert path is None
            continue
        file = root / str(path)
        day = local_date(
            query(settings.db_path, f"select started_at from calls where uid = '{uid}'")[0][0],  # type: ignore[arg-type]
            emu.zone,
        )
        assert path == f"date={day.isoformat()}/{uid}.mp3"
        data = file.read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == digest
        assert data.startswith(b"ID3")
    assert not list(root.rglob(".*.tmp"))  # nothing half-written
    # a second run asks for nothing: copies held, and gone ones are never asked again
    again = Counting()
    with client_of(settings, again) as client:
        second = recordings.copy(settings, client, keep_days=0)
    assert again.sent == 0 and second.held == len(reported) and second.copied == 0


def test_all_recordings_and_a_range(settings):
    day = FIRST + timedelta(days=1)  # a Tuesday
    summary = copy(settings, which="all", first=day, last=day)
    linked = query(
        settings.db_path,
        "select count(*) from calls where record_url is not null and "
        f"(started_at at time zone 'Europe/Moscow')::date = '{day}'",
    )[0][0]
    assert summary.wanted == linked > 100
    assert query(settings.db_path, "select distinct local_date from recordings") == [(day,)]


def test_server_errors_are_retried_and_what_stays_failed_is_asked_again(settings, emu):
    twin = Emulator(seed=emu.seed, agents=emu.agents, dialect="platform", clock=clock)
    with served(twin, "error=1.0") as srv:  # the PBX fails every request, retries too
        summary = copy(settings.replace(base_url=srv.base_url))
    assert summary.copied == 0 and summary.failed == summary.wanted > 0  # the run went on
    assert all("gave up" in failure for failure in summary.failures)
    assert query(settings.db_path, "select distinct status from recordings") == [("failed",)]
    with served(twin, "error=0.3,seed=4") as srv:  # back, with hiccups
        summary = copy(settings.replace(base_url=srv.base_url))
        assert srv.stats.faults.get("error", 0) > 0
    assert summary.failed == 0 and summary.copied > 0  # every hiccup retried away
    assert summary.held == 0  # the failed ones were asked for again
    assert "failed" not in {s for (s,) in query(settings.db_path, "select status from recordings")}


def test_a_stopped_run_resumes_without_asking_again(settings):
    todo, _ = recordings_wanted(settings)
    first, *rest = todo
    # a run wrote this file, then stopped before recording it
    target = settings.raw_dir.parent / "recordings" / recordings.relative_path(first)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"ID3 written by the run that stopped")
    transport = Counting()
    with client_of(settings, transport) as client:
        summary = recordings.copy(settings, client, keep_days=0)
    assert summary.recognised == 1 and transport.sent == len(rest)
    assert table(settings)[first.uid][0] == "copied"


def recordings_wanted(settings: Settings) -> tuple[list[recordings.Wanted], int]:
    from vats_etl import warehouse

    with warehouse.connect(settings.db_path, company=warehouse.Company("Europe/Moscow")) as con:
        return recordings.wanted(con, "reported", None, None)


def test_retention_prunes_old_copies(settings):
    copy(settings, which="all", first=TODAY - timedelta(days=3))
    held = query(settings.db_path, "select count(*) from recordings where status = 'copied'")
    with client_of(settings) as client:
        summary = recordings.copy(settings, client, which="all", keep_days=1, today=TODAY)
    kept = query(
        settings.db_path,
        "select local_date, status, count(*) from recordings group by all order by all",
    )
    assert summary.pruned > 0
    assert {(day >= TODAY - timedelta(days=1), status) for day, status, _ in kept} <= {
        (True, "copied"), (True, "deleted"), (True, "expired"),
        (False, "pruned"), (False, "deleted"), (False, "expired"),
    }  # fmt: skip
    root = settings.raw_dir.parent / "recordings"
    assert not (root / f"date={TODAY - timedelta(days=3)}").exists()  # its folder emptied
    assert held[0][0] == summary.pruned + sum(  # type: ignore[operator]
        n for day, status, n in kept if status == "copied"
    )


def test_a_rejected_key_stops_the_run(settings):
    with (
        PbxClient(settings.base_url or "", Secret("wrong-key"), retry=FAST_RETRY) as client,
        pytest.raises(errors.InvalidToken),
    ):
        recordings.copy(settings, client, keep_days=0)
    assert query(settings.db_path, "select count(*) from recordings") == [(0,)]


def test_the_key_is_nowhere_but_in_the_header(settings, caplog):
    caplog.set_level(logging.DEBUG)
    with served(company("platform"), "error=0.2,seed=9") as srv:
        copy(settings.replace(base_url=srv.base_url), which="all", first=TODAY)
    root = settings.raw_dir.parent / "recordings"
    assert all(API_KEY not in str(path) for path in root.rglob("*"))
    dump = query(settings.db_path, "select * from recordings")
    assert API_KEY not in repr(dump)
    assert API_KEY not in caplog.text
    assert caplog.text  # the retries were logged, without the key


def test_the_command_as_a_user_runs_it(settings, server, tmp_path):
    env = environment(tmp_path, server.base_url, VATS_RECORDINGS_KEEP_DAYS="0")
    day = str(TODAY - timedelta(days=1))
    result = vats("recordings", "--from", day, "--to", day, "--which", "all", env=env)
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("recordings:")]
    assert "copied" in line and "deleted" in line and "expired" in line
    assert API_KEY not in result.stdout + result.stderr
    copied = query(settings.db_path, "select count(*) from recordings where status = 'copied'")
    assert copied[0][0] > 0  # type: ignore[operator]
    usage = vats("recordings", "--which", "some", env=env)
    assert usage.returncode == 2


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    yield from disks.tiny_disk(tmp_path / "disk", "64k")


def test_a_full_disk_stops_with_whole_files_only(settings, emu, tiny_disk):
    on_disk = settings.replace(raw_dir=tiny_disk / "raw")
    with pytest.raises(errors.ArchiveError, match="No space left"):
        copy(on_disk, which="all")
    files = [p for p in (tiny_disk / "recordings").rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.name.endswith(".tmp")]
    for path in files:  # every file there is the whole recording
        assert path.read_bytes() == audio(emu.seed, path.stem)
    held = table(on_disk)
    assert {uid for uid, (status, *_) in held.items() if status == "copied"} <= {
        p.stem for p in files
    }
