"""The KPI catalogue: what each figure of a page is called in Russian, how it is shown (a
count, a share, seconds, a score), which direction is better, and the note that says what it
counts. What the figures *are* is defined in SQL (the ``inbound_kpis`` and ``rating_kpis``
macros and the views); this module only names and shows them.

Also the Russian names of the values the views hand out (miss reasons, call segments) and
the bins of the time-to-recovery chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

# How a figure is shown: a count, a share (per cent), seconds (a duration) or a score (1-5).
KpiFormat = Literal["count", "share", "seconds", "score"]
Better = Literal["up", "down", "none"]

# missed_calls.reason / inbound_calls.reason
REASONS_RU = {
    "no_answer": "не ответили",
    "cancel": "клиент положил трубку",
    "busy": "занято",
    "offtime": "нерабочее время",
    "voicemail": "голосовая почта",
    "ivr": "брошен в меню (IVR)",
}
# The department the views give a call that reached none (calls_enriched.department).
NO_DEPARTMENT = "Без отдела"
# inbound_calls.segment: every inbound call is in one segment; the headline figures are
# in_hours, the other two have their own table, so offered = the three added up.
SEGMENTS_RU = {
    "in_hours": "В рабочее время, в отделах",
    "after_hours": "Вне рабочего времени",
    "unrouted": "В рабочее время, не дошли до отдела",
}
TOTAL_RU = "Все звонки"
# One miss's hours, as a row of the call-back list says it (its segment).
MISS_HOURS_RU = {
    "in_hours": "в рабочее время",
    "unrouted": "в рабочее время, не дошёл до отдела",
    "after_hours": "вне рабочего времени",
}
# callback_worklist.status
STATUS_RU = {"lost": "потерян", "pending": "ждёт перезвона"}
# Upper edges of the time-to-recovery chart's bins; the last bin ends at W.
RECOVERY_EDGES_S = (300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 172_800, 604_800)


@dataclass(frozen=True)
class KpiSettings:
    """The KPI parameters a warehouse keeps (its ``kpi_settings`` row)."""

    tz: str = "Europe/Moscow"
    short_abandon_s: int = 5
    service_level_s: int = 20
    recovery_window_s: int = 86_400
    min_rating_sample: int = 10
    repeat_window_s: int = 604_800
    recovery_window_basis: str = "calendar"  # or "working": W counts working time only

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def is_working_window(self) -> bool:
        return self.recovery_window_basis == "working"

    @property
    def window_text(self) -> str:
        """W in words: ``24 ч``, ``2 сут``, ``90 мин``; counted in working time: ``4 рабочих ч``
        (working days are never counted in сут)."""
        w = self.recovery_window_s
        if self.is_working_window:
            if w % 3600 == 0:
                return f"{w // 3600}\u00a0рабочих\u00a0ч"
            return f"{w // 60}\u00a0рабочих\u00a0мин"
        if w % 86_400 == 0 and w >= 172_800:
            return f"{w // 86_400}\u00a0сут"
        if w % 3600 == 0:
            return f"{w // 3600}\u00a0ч"
        return f"{w // 60}\u00a0мин"


@dataclass(frozen=True)
class KpiDef:
    key: str
    label: str
    format: KpiFormat
    better: Better
    note: str = ""  # what is counted, with the denominator of a share


# What a change must reach to show in the tile's text (fmt_change): 0.1 p.p., 0.01, 1 %.
_SHOWN = {"share": 1000, "score": 100, "count": 100, "seconds": 100}


def shown_precision(kpi_format: KpiFormat, value: float) -> float:
    """`value` rounded as a tile shows it (vats_etl.dashboards' formats): counts whole,
    shares to 0.1 %, scores to 0.01, times to the second below a minute and up to an hour
    (4 мин 05 с), to the minute up to two days (2 ч 05 мин), to the hour beyond."""
    if kpi_format == "count":
        return round(value)
    if kpi_format == "share":
        return round(value * 1000)
    if kpi_format == "score":
        return round(value * 100)
    seconds = round(value)
    if seconds < 3600:
        return seconds
    if seconds < 172_800:
        return round(value / 60)
    return round(value / 3600)


@dataclass(frozen=True)
class Tile:
    """One KPI with its value in the period and in the period before."""

    key: str
    label: str
    format: KpiFormat
    better: Better
    value: float | None
    previous: float | None
    note: str = ""

    @property
    def change(self) -> float | None:
        """Shares and scores: the difference (percentage points / points); counts and times:
        the relative change (0.1 = +10 %). None when either side is missing or zero."""
        if self.value is None or self.previous is None:
            return None
        if self.format in ("share", "score"):
            return self.value - self.previous
        if self.previous == 0:
            return None
        return self.value / self.previous - 1

    @property
    def is_unchanged(self) -> bool:
        """Nothing changed that the tile can show: both values read the same in the tile's
        precision (11 с and 11 с, even when they were 11.2 and 11.1 s), or the change rounds
        to nothing in the precision it is shown in."""
        value, previous, change = self.value, self.previous, self.change
        if value is not None and previous is not None:
            return shown_precision(self.format, value) == shown_precision(
                self.format, previous
            ) or (change is not None and round(abs(change) * _SHOWN[self.format]) == 0)
        return False

    @property
    def verdict(self) -> Literal["good", "bad", "same", "none"]:
        """good / bad: a change the tile can show, in the better / worse direction; same:
        none it can show (grey, never red); none: nothing to compare or no better way."""
        change = self.change
        if self.better == "none":
            return "none"
        if self.is_unchanged:
            return "same"
        if change is None:
            return "none"
        return "good" if (change > 0) == (self.better == "up") else "bad"


def kpi_defs(ks: KpiSettings) -> dict[str, KpiDef]:
    t, n, w = ks.short_abandon_s, ks.service_level_s, ks.window_text
    not_short = "поступило − короткие сбросы"
    defs = [
        KpiDef(
            "offered",
            "Поступило звонков",
            "count",
            "none",
            "= отвечено + пропущено + короткие сбросы",
        ),
        KpiDef("answered", "Отвечено звонков", "count", "up"),
        KpiDef("answer_rate", "Доля отвеченных", "share", "up", f"отвечено / ({not_short})"),
        KpiDef("missed", "Пропущено звонков", "count", "down", f"без ответа, клиент ждал ≥ {t} с"),
        KpiDef(
            "short_abandons",
            f"Короткие сбросы (< {t} с), звонков",
            "count",
            "none",
            f"положили трубку раньше {t} с; не пропущенные",
        ),
        KpiDef(
            "not_called_back",
            f"Не перезвонили за {w}, звонков",
            "count",
            "down",
            "окно закончилось без разговора: поговорили позже + потеряны",
        ),
        KpiDef(
            "lost",
            "Потеряно звонков",
            "count",
            "down",
            f"окно {w} закончилось, с клиентом так и не поговорили",
        ),
        KpiDef(
            "pending",
            "Ждут перезвона, звонков",
            "count",
            "none",
            f"окно {w} ещё открыто, разговора пока не было",
        ),
        KpiDef(
            "recovered_late",
            "Поговорили позже окна, звонков",
            "count",
            "none",
            f"первый разговор — позже {w}",
        ),
        KpiDef(
            "lost_contacts",
            "Клиентов с пропусками",
            "count",
            "down",
            "пропуски одного клиента до разговора — один",
        ),
        KpiDef(
            "unreached_contacts",
            "Потерянных обращений",
            "count",
            "down",
            f"обращения, где окно {w} закончилось, а разговора так и не было",
        ),
        KpiDef(
            "recovered_callback",
            "Перезвонили в окне, звонков",
            "count",
            "up",
            f"наш исходящий состоялся в течение {w}",
        ),
        KpiDef(
            "recovered_client",
            "Клиент дозвонился сам, звонков",
            "count",
            "none",
            f"его входящий отвечен в течение {w}",
        ),
        KpiDef(
            "service_level",
            f"Уровень сервиса ({n} с)",
            "share",
            "up",
            f"отвечено за ≤ {n} с / ({not_short})",
        ),
        KpiDef("asa_s", "Среднее ожидание ответа", "seconds", "down", "по отвеченным"),
        KpiDef("asa_p90_s", "Ожидание ответа, p90", "seconds", "down", "по отвеченным"),
        KpiDef("talk_mean_s", "Средний разговор", "seconds", "none"),
        KpiDef(
            "callback_median_s",
            "Время до перезвона, медиана",
            "seconds",
            "down",
            f"перезвоны в течение {w}",
        ),
        KpiDef(
            "callback_p90_s",
            "Время до перезвона, p90",
            "seconds",
            "down",
            f"перезвоны в течение {w}",
        ),
        KpiDef(
            "resolved_manually",
            "Решено вне АТС, звонков",
            "count",
            "none",
            "клиенту ответили иначе (vats-etl resolve); не перезвон",
        ),
        KpiDef(
            "lost_clients_in_hours",
            "Позвонить: клиенты в рабочее время",
            "count",
            "down",
            f"список «кому позвонить»: окно {w} закончилось, пропуск в рабочее время в отделе",
        ),
        KpiDef(
            "lost_clients_unrouted",
            "Позвонить: клиенты без отдела",
            "count",
            "down",
            "список «кому позвонить»: пропуски в рабочее время, не дошедшие до отдела",
        ),
        KpiDef(
            "lost_clients_after_hours",
            "Позвонить: клиенты вне рабочего времени",
            "count",
            "down",
            "список «кому позвонить»: пропуски только вне рабочего времени",
        ),
        KpiDef("repeat_caller_share", "Повторные звонки (7 дней)", "share", "none"),
        KpiDef("rated_calls", "Оценённых звонков", "count", "up"),
        KpiDef("response_rate", "Доля оценённых", "share", "up", "оценённые / отвеченные"),
        KpiDef("rating_mean", "Средняя оценка", "score", "up", "1–5, без оценки не считается"),
        KpiDef("csat_share", "Довольны (4–5)", "share", "up", "оценки 4–5 / все оценки"),
        KpiDef("dsat_share", "Недовольны (1–2)", "share", "down", "оценки 1–2 / все оценки"),
    ]
    return {d.key: d for d in defs}


OVERVIEW_TILES = (
    "offered",
    "answered",
    "missed",
    "short_abandons",
    "answer_rate",
    "service_level",
    "asa_s",
    "not_called_back",
    "lost",
    "callback_median_s",
    "rating_mean",
)
# The lost clients of the list "кому позвонить", by the segment of their misses: they add
# up to the list's rows (any hours), unlike the headline tiles (working hours only).
LIST_TILES = ("lost_clients_in_hours", "lost_clients_unrouted", "lost_clients_after_hours")
MISSED_TILES = (
    "missed",
    "recovered_callback",
    "recovered_client",
    "not_called_back",
    "recovered_late",
    "lost",
    "pending",
    "lost_contacts",
    "callback_median_s",
    "callback_p90_s",
    *LIST_TILES,
)
RATING_TILES = ("rated_calls", "response_rate", "rating_mean", "csat_share", "dsat_share")
EMAIL_TILES = (
    "offered",
    "answer_rate",
    "missed",
    "short_abandons",
    "not_called_back",
    "lost",
    "pending",
    "recovered_callback",
    "callback_median_s",
    "service_level",
    "asa_s",
    *LIST_TILES,
)


def has_headline_calls(now: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    """Did the scope have calls in working hours that reached it, in the period or the one
    before? A department without any ('Без отдела': only after hours and unrouted calls) has
    no headline figures to show, only zeros."""
    return bool(now.get("offered")) or bool(before.get("offered"))


def tiles(
    keys: Sequence[str], ks: KpiSettings, now: Mapping[str, Any], before: Mapping[str, Any]
) -> list[Tile]:
    """The tiles of `keys`, the period's value and the one before; without headline calls
    (has_headline_calls) only the tiles that do not count them (the list's, ratings):
    never a row of zeros above a list."""
    defs = kpi_defs(ks)
    if not has_headline_calls(now, before):
        keys = [k for k in keys if k in LIST_TILES or k in RATING_TILES]
    return [
        Tile(
            k,
            defs[k].label,
            defs[k].format,
            defs[k].better,
            _num(now.get(k)),
            _num(before.get(k)),
            defs[k].note,
        )
        for k in keys
    ]


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def recovery_edges(recovery_window_s: int) -> list[int]:
    """Upper edges of the time-to-recovery bins: the fixed ones below W, then W."""
    return [e for e in RECOVERY_EDGES_S if e < recovery_window_s] + [recovery_window_s]


def recovery_bin_labels(edges: Sequence[int]) -> list[str]:
    """``до 5 мин``, ``5–15 мин``, ``30 мин – 1 ч``, ``8–24 ч``: one per bin."""
    return [_span_label(a, b) for a, b in zip([0, *edges[:-1]], edges, strict=True)]


def _amount(seconds: int) -> tuple[int, str]:
    if seconds < 3600:
        return seconds // 60, "мин"
    if seconds < 172_800:
        return seconds // 3600, "ч"
    return seconds // 86_400, "сут"


def _span_label(a: int, b: int) -> str:
    (hi, hi_unit) = _amount(b)
    if a == 0:
        return f"до {hi} {hi_unit}"
    (lo, lo_unit) = _amount(a)
    if lo_unit == hi_unit:
        return f"{lo}–{hi} {hi_unit}"
    return f"{lo} {lo_unit} – {hi} {hi_unit}"
