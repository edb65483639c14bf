"""What a writer keeps in the warehouse's one `kpi_settings` row: the company's zone and the
values of its KPI settings file.

Every local day, hour and week of the views is cut in `kpi_settings.tz`, so a writer that
stored another zone than its company's would move every figure. The writer is therefore
*given* the zone and the file's values (a :class:`Company`, made from the settings of the
command or flow run that opens the warehouse); nothing here looks them up.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dt_time
from pathlib import Path
from types import MappingProxyType

import duckdb

from vats_etl import errors
from vats_etl.config import Settings, decode_text

# What a KPI settings file (VATS_KPI_SETTINGS, or an account's kpi_settings) may set.
KPI_FILE_SECONDS = (
    "short_abandon_s",
    "service_level_s",
    "recovery_window_s",
    "min_rating_sample",
    "repeat_window_s",
)
KPI_FILE_HOURS = ("work_start", "work_end")
WINDOW_BASES = ("calendar", "working")  # kpi_settings.recovery_window_basis
KPI_FILE_KEYS = (*KPI_FILE_SECONDS, "work_days", *KPI_FILE_HOURS, "recovery_window_basis")
_CLOCK = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?|24:00(:00)?)$")


@dataclass(frozen=True)
class Company:
    """The zone (`kpi_settings.tz`) and the KPI settings file's values (`kpi`, keys of
    KPI_FILE_KEYS) a writer keeps in the warehouse; values the file does not name are left
    as analysts set them. `account` is the account of the accounts file whose warehouse it
    is (None: the single account of the VATS_ variables): a writer never opens the warehouse
    of another (vats_etl.warehouse.stamp)."""

    tz: str
    kpi: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    account: str | None = None

    def __post_init__(self) -> None:  # a value, not a view of the caller's dict
        object.__setattr__(self, "kpi", MappingProxyType(dict(self.kpi)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Company:
        """The company of these settings: their zone, their KPI file read now, their account."""
        kpi = read_kpi_file(settings.kpi_file) if settings.kpi_file is not None else {}
        return cls(settings.tz, kpi, settings.account)


def read_kpi_file(path: Path) -> dict[str, object]:
    """A TOML file of kpi_settings values, e.g. ``recovery_window_s = 172800``,
    ``work_days = [1, 2, 3, 4, 5, 6]``, ``work_end = "20:00"``,
    ``recovery_window_basis = "working"``: the way to set W (and how it counts), T_short, N
    or the working hours for a warehouse nobody edits by hand (every account of an accounts
    file). A writer given its values (:meth:`Company.from_settings`) writes them whenever it
    opens the warehouse; keys the file does not name are left alone."""
    try:
        data = tomllib.loads(decode_text(path.read_bytes(), path, "KPI settings"))
    except OSError as exc:
        raise errors.ConfigError(f"cannot read KPI settings {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"KPI settings {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KPI_FILE_KEYS))
    if unknown:
        raise errors.ConfigError(
            f"KPI settings {path}: unknown {', '.join(unknown)}; known: {', '.join(KPI_FILE_KEYS)}"
        )
    found: dict[str, object] = {}
    for key, value in data.items():
        if key in KPI_FILE_HOURS:
            text = value.isoformat() if isinstance(value, dt_time) else value
            ok = isinstance(text, str) and _CLOCK.match(text) is not None
            why = 'a time of day, e.g. 09:00 or "18:30"'
        elif key == "recovery_window_basis":
            text = value
            ok = value in WINDOW_BASES
            why = "calendar (W of clock time) or working (W of working hours)"
        elif key == "work_days":
            text = value
            ok = isinstance(value, list) and all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in value
            )
            why = "a list of weekdays, 1 = Monday .. 7 = Sunday"
        else:
            text = value
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            why = "a whole number >= 0"
        if not ok:
            raise errors.ConfigError(f"KPI settings {path}: {key} must be {why}, got {value!r}")
        found[key] = sorted(set(text)) if key == "work_days" else text
    return found


def sync_kpi_settings(
    con: duckdb.DuckDBPyConnection, tz: str | None, values: Mapping[str, object] | None = None
) -> None:
    """Keep the one `kpi_settings` row (sql/kpi_settings.sql creates it with defaults), write
    `tz` and the `values` of a KPI settings file; analysts' own values of every other
    parameter (W, T_short, N, ...) are never touched. Nothing is written when nothing
    differs, so the outcome cache stays valid."""
    con.execute("insert into kpi_settings (id) values (1) on conflict do nothing")
    wanted: dict[str, object] = dict(values or {})
    if tz:
        wanted["tz"] = tz
    for column, value in wanted.items():  # names from KPI_FILE_KEYS and "tz" only
        con.execute(
            f"update kpi_settings set {column} = ? where id = 1 and {column} is distinct from ?",
            [value, value],
        )
