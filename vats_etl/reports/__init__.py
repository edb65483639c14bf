"""What managers see, as data: the views of the analyst layer → plain dataclasses of figures
and polars frames. No HTML and no files here; :mod:`vats_etl.dashboards` and
:mod:`vats_etl.weekly_email` render these.

    period.py     the calendar period of a report (ISO weeks, the period before, UTC bounds,
                  Russian labels)
    catalogue.py  the KPI catalogue: labels, formats, which way is better, tile lists, the
                  Russian names of reasons and segments
    pages.py      the data of each page (Meta, Overview, Missed, Ratings)
    reader.py     the queries: one period (and department) of the views → pages
    source.py     where reports read: prepare_read_copy (upgrades an older warehouse and
                  republishes its read copy: the one step that writes), then open_read
                  (read-only)

Every figure is defined once, in SQL (``sql/``): the reader asks the views and the macros
the views aggregate with, it never restates a filter, a sum or a formula. Periods are local
days in the company zone (``kpi_settings.tz``); every instant handed out is aware and in
that zone.

    settings = load_settings()
    reports.prepare_read_copy(settings)
    with reports.open_read(settings) as con:
        page = reports.Reader(con, Period.week("2026-W47")).missed()
"""

from vats_etl.reports.catalogue import (
    EMAIL_TILES,
    LIST_TILES,
    MISS_HOURS_RU,
    MISSED_TILES,
    NO_DEPARTMENT,
    OVERVIEW_TILES,
    RATING_TILES,
    REASONS_RU,
    SEGMENTS_RU,
    STATUS_RU,
    Better,
    KpiDef,
    KpiFormat,
    KpiSettings,
    Tile,
    has_headline_calls,
    kpi_defs,
    tiles,
)
from vats_etl.reports.pages import Meta, Missed, Overview, Ratings
from vats_etl.reports.period import MONTHS_RU_GENITIVE, WEEKDAYS_RU, Period
from vats_etl.reports.reader import Reader, read_kpi_settings
from vats_etl.reports.source import open_read, prepare_read_copy, source_path

__all__ = [
    "EMAIL_TILES",
    "LIST_TILES",
    "MISSED_TILES",
    "MISS_HOURS_RU",
    "MONTHS_RU_GENITIVE",
    "NO_DEPARTMENT",
    "OVERVIEW_TILES",
    "RATING_TILES",
    "REASONS_RU",
    "SEGMENTS_RU",
    "STATUS_RU",
    "WEEKDAYS_RU",
    "Better",
    "KpiDef",
    "KpiFormat",
    "KpiSettings",
    "Meta",
    "Missed",
    "Overview",
    "Period",
    "Ratings",
    "Reader",
    "Tile",
    "has_headline_calls",
    "kpi_defs",
    "open_read",
    "prepare_read_copy",
    "read_kpi_settings",
    "source_path",
    "tiles",
]
