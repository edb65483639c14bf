"""The company's zone: the one given (VATS_TZ, --tz, an account's ``tz``), or the PBX's own.

Every local day, hour and week is cut in the company's zone; a PBX whose zone is not that
one has its days and working hours cut in the wrong place without a word. The newer edition
of the API says which zone the account runs in: ``GET /domain`` answers
``{"timezone": {"name": "Asia/Yekaterinburg", "offset": 300}}`` (as public integrations read
it: a name, and the offset from UTC in minutes east; an account without the endpoint
answers 404 or 501, which is fine). So:

* **no zone given**: the PBX's is used. ``check`` and the first run of a new warehouse read
  it; the warehouse remembers it (``pbx_timezone``), and every command takes it from there
  (:func:`with_remembered`). A warehouse made before, whose zone is not remembered, keeps the
  default (``Europe/Moscow``) as it always had, until ``check`` reads the PBX's.
* **a zone given** whose current offset from UTC differs from the PBX's: one warning line
  names both. Offsets are compared, not names: one portal's name differed from what its
  owner expected while the clock was the same.

A name the zone database does not know is replaced by a fixed offset (``Etc/GMT-5`` for
UTC+5) when the offset is whole hours; otherwise the PBX's zone cannot be used and the
default stays, said in one line.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from vats_etl import errors, warehouse
from vats_etl.client import PbxClient
from vats_etl.config import DEFAULT_TZ, Settings


@dataclass(frozen=True)
class PbxZone:
    """The zone ``GET /domain`` reported: its name and offset (minutes east of UTC), each
    possibly missing."""

    name: str | None
    offset_min: int | None

    def usable(self) -> str | None:
        """A zone name to cut days in: the PBX's when the zone database knows it, else a
        fixed whole-hour offset, else None."""
        if self.name:
            with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
                ZoneInfo(self.name)
                return self.name
        if self.offset_min is not None and self.offset_min % 60 == 0:
            hours = self.offset_min // 60
            if -12 <= hours <= 14:
                # POSIX signs: Etc/GMT-5 is five hours east of UTC
                return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
        return None

    def offset_at(self, at: datetime) -> int | None:
        """Its offset: as reported, else its name's at that instant."""
        if self.offset_min is not None:
            return self.offset_min
        usable = self.usable()
        return None if usable is None else offset_min(usable, at)

    def describe(self, at: datetime) -> str:
        offset = self.offset_at(at)
        shown = f" ({utc_offset(offset)})" if offset is not None else ""
        return f"{self.name or 'unnamed'}{shown}"


def parse_domain(data: Any) -> PbxZone | None:
    """The zone of a ``GET /domain`` answer, or None when it names none."""
    zone = data.get("timezone") if isinstance(data, dict) else None
    if isinstance(zone, str):
        zone = {"name": zone}
    if not isinstance(zone, dict):
        return None
    name = zone.get("name")
    name = name.strip() if isinstance(name, str) and name.strip() else None
    minutes = _whole_minutes(zone.get("offset"))
    if name is None and minutes is None:
        return None
    return PbxZone(name, minutes)


def _whole_minutes(value: object) -> int | None:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def offset_min(tz: str, at: datetime) -> int:
    delta = at.astimezone(ZoneInfo(tz)).utcoffset()
    return 0 if delta is None else int(delta.total_seconds() // 60)


def utc_offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def mismatch(settings: Settings, pbx: PbxZone, at: datetime) -> str | None:
    """One line when the zone given differs from the PBX's now (by offset), else None."""
    theirs = pbx.offset_at(at)
    if settings.tz_source is None or theirs is None:
        return None
    ours = offset_min(settings.tz, at)
    if ours == theirs:
        return None
    return (
        f"the PBX runs in {pbx.describe(at)} but {settings.tz_source} says {settings.tz} "
        f"({utc_offset(ours)}): days and working hours are cut in {settings.tz}"
    )


# -- I/O: the API, the warehouse -----------------------------------------------------------


def read_pbx_zone(client: PbxClient) -> PbxZone | None:
    """The account's zone from ``GET /domain``; None when the account does not offer it."""
    return parse_domain(client.domain())


def remembered(db_path: Path, *, timeout_s: float = 60.0) -> str | None:
    """The PBX's zone a warehouse remembers (usable, see :meth:`PbxZone.usable`). Asked of
    its read copy when there is one, which no load ever holds (so a report never waits for
    a load to ask it); else of the warehouse itself."""
    copy = warehouse.read_copy_path(db_path)
    source = copy if copy.exists() else db_path
    if not source.exists():
        return None
    with warehouse.connect(source, read_only=True, timeout_s=timeout_s) as con:
        try:
            found = con.execute("select usable_tz from pbx_timezone where id = 1").fetchall()
        except duckdb.CatalogException:  # a warehouse from before it was remembered
            return None
    return found[0][0] if found else None


def remember(con: duckdb.DuckDBPyConnection, pbx: PbxZone, at: datetime) -> bool:
    """Keep what ``GET /domain`` said, and the zone it gives us to use; True when the zone
    to use is another than the one remembered before."""
    before = con.execute("select usable_tz from pbx_timezone where id = 1").fetchall()
    con.execute(
        "insert or replace into pbx_timezone (id, name, offset_min, usable_tz, read_at) "
        "values (1, ?, ?, ?, ?)",
        [pbx.name, pbx.offset_min, pbx.usable(), at.astimezone(UTC)],
    )
    return before != [(pbx.usable(),)]


def with_remembered(settings: Settings) -> Settings:
    """`settings` in the PBX's zone when none was given and the warehouse remembers one. A
    warehouse that cannot be read is left for the command that needs it to report (`check`
    does not need it at all)."""
    if settings.tz_source is not None:
        return settings
    try:
        zone = remembered(settings.db_path, timeout_s=settings.db_lock_timeout_s)
    except errors.VatsError:
        return settings
    return settings if zone is None or zone == settings.tz else settings.replace(tz=zone)


def zone_of(given: str | None, db_path: Path, *, timeout_s: float = 5.0) -> str:
    """A zone to schedule an account in: the one given, else the PBX's its warehouse
    remembers, else the default (a busy or missing warehouse is no reason to fail)."""
    if given:
        return given
    with contextlib.suppress(errors.VatsError):
        return remembered(db_path, timeout_s=timeout_s) or DEFAULT_TZ
    return DEFAULT_TZ


def is_new_warehouse(settings: Settings) -> bool:
    """No call loaded and no zone remembered: the first run's, which reads the PBX's."""
    if not settings.db_path.exists():
        return True
    with warehouse.connect(
        settings.db_path, read_only=True, timeout_s=settings.db_lock_timeout_s
    ) as con:
        try:
            (held,) = con.execute(
                "select (select count(*) from pbx_timezone) + (select count(*) from "
                "(select 1 from calls limit 1))"
            ).fetchall()[0]
        except duckdb.CatalogException:  # before the schema is there: nothing loaded
            return True
    return int(held) == 0


@dataclass(frozen=True)
class Settled:
    """What reading the PBX's zone gave: the settings to run with, what to tell the user
    (`notes`) and what to warn about (`warnings`), one line each."""

    settings: Settings
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def settle(
    settings: Settings,
    client: PbxClient,
    *,
    create: bool = True,
    at: datetime | None = None,
) -> Settled:
    """Read ``GET /domain`` and act on it (see the module's docstring): with no zone given,
    use the PBX's; with one given, warn when the offsets differ. The warehouse remembers what
    the PBX said — one not made yet only with `create` (a run makes it, `check` does not)."""
    when = at or datetime.now(UTC)
    pbx = read_pbx_zone(client)
    if pbx is None:
        return Settled(settings)
    notes: list[str] = []
    warnings = [line] if (line := mismatch(settings, pbx, when)) else []
    chosen = settings
    if settings.tz_source is None:
        usable = pbx.usable()
        if usable is None:
            warnings.append(
                f"the PBX's zone {pbx.describe(when)} is not one we can use: days are cut in "
                f"{settings.tz}; set VATS_TZ"
            )
        else:
            chosen = settings.replace(tz=usable)
            shown = f"{usable} ({utc_offset(offset_min(usable, when))})"
            whose = "the PBX's" if usable == pbx.name else f"for the PBX's {pbx.describe(when)}"
            notes.append(f"zone: {shown}, {whose}: no zone is given")
    if create or chosen.db_path.exists():
        with warehouse.connect(
            chosen.db_path,
            company=warehouse.Company.from_settings(chosen),
            timeout_s=chosen.db_lock_timeout_s,
        ) as con:
            changed = remember(con, pbx, when)
        if changed and warehouse.read_copy_path(chosen.db_path).exists():
            # commands ask the read copy which zone is remembered: tell it now
            warehouse.publish_read_copy(chosen.db_path, timeout_s=chosen.db_lock_timeout_s)
    return Settled(chosen, tuple(notes), tuple(warnings))


def settle_first_run(settings: Settings, client: PbxClient) -> Settled:
    """:func:`settle` when this is the warehouse's first run; else the settings as they are
    (a zone remembered is already in them: :func:`with_remembered`)."""
    if not is_new_warehouse(settings):
        return Settled(settings)
    try:
        return settle(settings, client)
    except errors.ApiError as exc:  # the zone is worth a line, not the run
        return Settled(settings, warnings=(f"the PBX's zone could not be read: {exc}",))
