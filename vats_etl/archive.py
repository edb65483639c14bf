"""The raw archive: every response body the pipeline receives, zstd-compressed, before parsing.

Layout (Hive-style partitions, readable by DuckDB, Spark, polars...)::

    {VATS_RAW_DIR}/{kind}/{fmt}/date=YYYY-MM-DD/{fetched}_{start}_{end}.{fmt}.zst

`kind` is `external`, `internal` or a directory endpoint (`users`, `groups`, ...); `date` is
the local day (company time zone) the window starts on; `fetched` is the UTC fetch instant
with microseconds, so re-reads of a window sort in the order they were received and a replay
applies them in that order ("latest wins" gives the same tables). Bodies are stored as
received; requests' headers (and so the API key) never are. Files are written to a temporary
name and renamed, so a crash never leaves a half-written file under a real name.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import zstandard

from vats_etl import errors, periods
from vats_etl.periods import Window

_STAMP = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(
    r"^(?P<fetched>\d{8}T\d{12}Z)_(?P<start>\d{8}T\d{6}Z)_(?P<end>\d{8}T\d{6}Z)\.(?P<fmt>json|csv)\.zst$"
)
ZSTD_LEVEL = 1


@dataclass(frozen=True, order=True)
class ArchivedPage:
    fetched_at: datetime
    kind: str
    fmt: str
    window: Window
    path: Path

    def read(self) -> bytes:
        return read_body(self.path)


def page_path(
    root: Path, kind: str, fmt: str, window: Window, fetched_at: datetime, zone: ZoneInfo
) -> Path:
    day = periods.local_date(window.start, zone)
    name = (
        f"{fetched_at.astimezone(UTC).strftime(_STAMP)}_"
        f"{periods.format_api(window.start)}_{periods.format_api(window.end)}.{fmt}.zst"
    )
    return root / kind / fmt / f"date={day.isoformat()}" / name


def store(
    root: Path,
    kind: str,
    fmt: str,
    window: Window,
    body: bytes,
    fetched_at: datetime,
    zone: ZoneInfo,
) -> Path:
    """Write one response body; returns its path. Safe to call from several threads.

    A write that fails (disk full, no permission, a file where a folder should be) leaves
    nothing behind and raises ArchiveError naming the file."""
    path = page_path(root, kind, fmt, window, fetched_at, zone)
    write_whole(path, zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body))
    return path


def write_whole(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it: a reader sees the whole file
    or none. A write that fails leaves nothing behind and raises ArchiveError naming the file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise errors.ArchiveError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_body(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return zstandard.ZstdDecompressor().decompress(handle.read(), max_output_size=1 << 31)
    except (OSError, zstandard.ZstdError) as exc:
        raise errors.ArchiveError(f"cannot read archived page {path}: {exc}") from None


def parse_name(kind: str, fmt: str, path: Path) -> ArchivedPage | None:
    match = _NAME.match(path.name)
    if not match or match["fmt"] != fmt:
        return None
    fetched = datetime.strptime(match["fetched"], _STAMP).replace(tzinfo=UTC)
    window = Window(periods.parse_api(match["start"]), periods.parse_api(match["end"]))
    return ArchivedPage(fetched, kind, fmt, window, path)


def pages(
    root: Path, kind: str, fmt: str, first: date | None = None, last: date | None = None
) -> Iterator[ArchivedPage]:
    """Archived pages of one kind and format, oldest fetch first, optionally by local day."""
    base = root / kind / fmt
    if not base.is_dir():
        return
    found: list[ArchivedPage] = []
    for partition in base.iterdir():
        if not partition.name.startswith("date="):
            continue
        day = date.fromisoformat(partition.name.removeprefix("date="))
        if (first and day < first) or (last and day > last):
            continue
        for path in partition.iterdir():
            page = parse_name(kind, fmt, path)
            if page is not None:
                found.append(page)
    yield from sorted(found)
