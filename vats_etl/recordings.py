"""Copies of call recordings that outlive the PBX's links.

The history carries links (``https://<pbx>/api/v2/call-records/record/<date>/<uuid>/<name>``)
that the PBX deletes (404) or lets expire (410) after a while, so a list that points a
manager to a recording ends up pointing nowhere. Public integrations copy the recordings
soon, with the ``X-API-KEY`` header, and re-fetch the last days. So do we:

* **which**: ``reported`` (default) — the recordings our reports point to, as the view
  ``reported_recordings`` says (calls rated 1-2, a lost client's voicemail, a call-back that
  came too late); ``all`` — every external call with a link;
* **where**: ``recordings/date=YYYY-MM-DD/<uid>.<ext>`` next to the raw archive (the call's
  local day), each file written to a temporary name and renamed, so a copy is whole or
  absent; a uid that is not a plain word is hashed into the name;
* **what is remembered**: the table ``recordings`` (uid, path, bytes, sha256, status,
  fetched_at). ``copied``, ``deleted`` (404) and ``expired`` (410) are never asked for
  again; ``failed`` (5xx or timeouts after the client's retries with backoff) is, next time.
  A run that stopped half-way resumes: what it held is skipped, a file it wrote but did not
  record is recognised and recorded without a request;
* **how**: at most ``concurrency`` downloads at once; the key goes only in the header, to
  the API's own host (:meth:`PbxClient.recording`), never into a path, a log or the table;
* **retention**: copies of calls older than ``keep_days`` are removed (status ``pruned``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import httpx

from vats_etl import archive, errors, warehouse
from vats_etl.client import PbxClient
from vats_etl.config import Settings

Which = Literal["reported", "all"]
Status = Literal["copied", "deleted", "expired", "failed", "pruned"]
WHICH: tuple[Which, ...] = ("reported", "all")
# Never asked for again: the copy is there, or the PBX has nothing to give.
SETTLED: tuple[Status, ...] = ("copied", "deleted", "expired", "pruned")
_PLAIN_UID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,5}$")
WRITE_EVERY = 200  # rows recorded per transaction while copying
# Public integrations re-fetch the last week: a link lives at least that long.
REFETCH_DAYS = 7


@dataclass(frozen=True)
class Wanted:
    """A recording to hold: the call, its local day, the PBX's link."""

    uid: str
    local_date: date
    link: str


@dataclass(frozen=True)
class Outcome:
    """What became of one recording (a `recordings` row)."""

    uid: str
    local_date: date
    status: Status
    path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    error: str | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Summary:
    """A run's counts, for the terminal and the daily flow."""

    wanted: int = 0
    held: int = 0  # already copied or known gone: not asked for
    copied: int = 0
    recognised: int = 0  # written by a run that stopped before recording it
    bytes: int = 0
    deleted: int = 0
    expired: int = 0
    failed: int = 0
    pruned: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, recognised: bool = False) -> None:
        if outcome.status == "copied":
            self.copied += 1
            self.recognised += recognised
            self.bytes += outcome.bytes or 0
        elif outcome.status == "deleted":
            self.deleted += 1
        elif outcome.status == "expired":
            self.expired += 1
        elif outcome.status == "failed":
            self.failed += 1
            self.failures.append(f"{outcome.uid}: {outcome.error}")

    def line(self) -> str:
        return (
            f"recordings: {self.copied:,} copied ({self.bytes / 1e6:,.1f} MB), "
            f"{self.held:,} already held, {self.deleted:,} deleted and {self.expired:,} "
            f"expired at the PBX, {self.failed:,} failed (asked again next time), "
            f"{self.pruned:,} pruned; {self.seconds:.1f} s"
        )


# -- names (pure) ------------------------------------------------------------------------------


def file_name(uid: str, link: str) -> str:
    """``<uid>.<ext>``: the uid when it is a plain word (else a hash of it: a uid comes from
    the PBX and must not make a path), the extension of the link's file (else ``mp3``)."""
    stem = uid if _PLAIN_UID.match(uid) else "uid-" + hashlib.sha256(uid.encode()).hexdigest()[:24]
    last = httpx.URL(link).path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1] if "." in last else ""
    return f"{stem}.{ext.lower() if _EXTENSION.match(ext) else 'mp3'}"


def relative_path(wanted: Wanted) -> str:
    return f"date={wanted.local_date.isoformat()}/{file_name(wanted.uid, wanted.link)}"


# -- which recordings (the warehouse) ---------------------------------------------------------


def wanted(
    con: duckdb.DuckDBPyConnection, which: Which, first: date | None, last: date | None
) -> tuple[list[Wanted], int]:
    """The recordings of calls of local days `first`..`last` to fetch (oldest first), and how
    many more are already held or known gone. `reported` asks the view reported_recordings."""
    if which == "reported":
        source = "select rr.uid, rr.local_date, rr.record_url from reported_recordings as rr"
    else:
        source = (
            "select c.uid, (c.started_at at time zone ks.tz)::date as local_date, c.record_url "
            "from calls as c cross join (select tz from kpi_settings limit 1) as ks "
            "where c.record_url is not null and c.started_at is not null"
        )
    rows = con.execute(
        f"with candidates as ({source}) "
        "select ca.uid, ca.local_date, ca.record_url, r.status in "
        f"({', '.join(repr(s) for s in SETTLED)}) as held "
        "from candidates as ca left join recordings as r on r.uid = ca.uid "
        "where (? is null or ca.local_date >= ?) and (? is null or ca.local_date <= ?) "
        "order by ca.local_date, ca.uid",
        [first, first, last, last],
    ).fetchall()
    todo = [Wanted(uid, day, link) for uid, day, link, held in rows if not held]
    return todo, len(rows) - len(todo)


def record(con: duckdb.DuckDBPyConnection, outcomes: Iterable[Outcome]) -> None:
    for o in outcomes:
        con.execute(
            "insert or replace into recordings "
            "(uid, local_date, path, bytes, sha256, status, error, fetched_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            [o.uid, o.local_date, o.path, o.bytes, o.sha256, o.status, o.error, o.fetched_at],
        )


# -- copying one (a worker thread) ------------------------------------------------------------


def copy_one(client: PbxClient, item: Wanted, root: Path) -> tuple[Outcome, bool]:
    """Fetch one recording and write it whole under `root`; (outcome, whether the file was
    already there from a run that stopped before recording it). 404 and 410 are outcomes,
    not errors; so are 5xx and timeouts once the client's retries are spent. A rejected key
    or a disabled domain stops the run (raised)."""
    path = relative_path(item)
    target = root / path
    if target.is_file():  # renamed into place whole by an earlier run
        data = target.read_bytes()
        return _copied(item, path, data), True
    try:
        response = client.recording(item.link)
    except errors.NotFound as exc:
        return Outcome(item.uid, item.local_date, "deleted", error=_why(exc)), False
    except errors.Gone as exc:
        return Outcome(item.uid, item.local_date, "expired", error=_why(exc)), False
    except (errors.GaveUp, errors.ServerError, errors.ApiValidationError) as exc:
        return Outcome(item.uid, item.local_date, "failed", error=_why(exc)), False
    archive.write_whole(target, response.body)
    return _copied(item, path, response.body), False


def _copied(item: Wanted, path: str, data: bytes) -> Outcome:
    digest = hashlib.sha256(data).hexdigest()
    return Outcome(item.uid, item.local_date, "copied", path, len(data), digest)


def _why(exc: errors.ApiError) -> str:
    """The answer, without the request's name (the file's name is the uid's)."""
    return str(exc).split(": ", 1)[-1]


# -- a run ------------------------------------------------------------------------------------


def copy(
    settings: Settings,
    client: PbxClient,
    *,
    which: Which = "reported",
    first: date | None = None,
    last: date | None = None,
    concurrency: int = 4,
    keep_days: int | None = None,
    today: date | None = None,
    on_one: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Copy the recordings `which` of local days `first`..`last` (None: no bound) that are not
    held yet, then prune copies of days more than `keep_days` before `today` (the settings'
    retention and the company's today by default; 0 keeps them for ever) — nothing that old
    is fetched. The warehouse is opened briefly: to ask what is wanted, then every
    WRITE_EVERY copies."""
    started = time.monotonic()
    summary = Summary()
    company = warehouse.Company.from_settings(settings)
    days = settings.recordings_keep_days if keep_days is None else keep_days
    local_today = today or datetime.now(UTC).astimezone(settings.zone).date()
    kept_from = local_today - timedelta(days=days) if days else None
    if kept_from is not None:
        first = kept_from if first is None else max(first, kept_from)

    def connect() -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        return warehouse.connect(
            settings.db_path, company=company, timeout_s=settings.db_lock_timeout_s
        )

    with connect() as con:
        todo, summary.held = wanted(con, which, first, last)
    summary.wanted = len(todo) + summary.held
    root = settings.recordings_dir
    waiting: list[Outcome] = []

    def flush() -> None:
        if waiting:
            with connect() as con, warehouse.transaction(con):
                record(con, waiting)
            waiting.clear()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="recording") as pool:
        try:
            for outcome, recognised in pool.map(lambda w: copy_one(client, w, root), todo):
                summary.add(outcome, recognised)
                waiting.append(outcome)
                if on_one is not None:
                    on_one(outcome)
                if len(waiting) >= WRITE_EVERY:
                    flush()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a rejected key, a full disk: ask no more
            raise
        finally:
            flush()  # what was copied stays recorded, whatever stopped the run
    if kept_from is not None:
        with connect() as con:
            summary.pruned = prune(con, root, kept_from)
    summary.seconds = time.monotonic() - started
    return summary


def prune(con: duckdb.DuckDBPyConnection, root: Path, before: date) -> int:
    """Remove the copies of calls of local days before `before` (status pruned)."""
    rows = con.execute(
        "select uid, path from recordings where status = 'copied' and local_date < ?", [before]
    ).fetchall()
    if not rows:
        return 0
    for _, path in rows:
        with contextlib.suppress(FileNotFoundError):
            (root / path).unlink()
    con.execute(
        "update recordings set status = 'pruned', fetched_at = ? "
        "where status = 'copied' and local_date < ?",
        [datetime.now(UTC), before],
    )
    for folder in {(root / path).parent for _, path in rows}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # an emptied day's folder goes too
    return len(rows)
