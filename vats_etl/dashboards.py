"""Dashboards: the data of :mod:`vats_etl.reports` → HTML pages (plotly) that open offline.

Three pages — ``overview.html``, ``missed-calls.html``, ``ratings.html`` (plus
``missed-calls.csv``, the whole list of lost clients) — and one copy of plotly.js next to
them (``plotly-<version>.min.js``), which every page of the folder loads with a relative
``<script src>``: a page is ~100–400 KB instead of 5 MB, and nothing is fetched from the
internet. Every chart is a ``<div>`` rendered with ``include_plotlyjs=False``. Labels are
Russian, times are in the company zone.

Escaping: pages are Jinja2 templates with autoescape on, so every value a template prints
is escaped; the only unescaped inserts are the chart ``<div>``s plotly writes (its JSON
escapes ``<``, ``>`` and ``&``). Text that came from the PBX and goes into a chart
(department, employee, number) is HTML-escaped first as well, because plotly.js reads a
small HTML subset (``<b>``, ``<a href>``, ...) in labels; escaped, it shows the text as it
is. Links are made only from http(s) URLs; ``tel:`` links only from digits.

I/O is at the edge: :func:`write` queries the warehouse (read-only) and writes the files
atomically; everything else returns strings.
"""

from __future__ import annotations

import html
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from vats_etl import reports
from vats_etl.config import Settings
from vats_etl.reports import Missed, Overview, Period, Ratings, Tile

PAGES = (
    ("overview", "Обзор", "overview"),
    ("missed", "Пропущенные", "missed-calls"),
    ("ratings", "Оценки", "ratings"),
)
TITLES = {
    "overview": "Обзор звонков",
    "missed": "Пропущенные звонки",
    "ratings": "Оценки клиентов",
}
ACTION_ROWS = 300  # rows of the "not called back" list on the page (all of them in the CSV)
TABLE_ROWS = 200  # other long tables
CHART_CATEGORIES = 15  # bars in a breakdown chart (the table below has them all)
EMPLOYEE_BARS = 40
NBSP = "\u00a0"
COLORS = {
    "answered": "#2e7d32",
    "missed": "#c62828",
    "short": "#b0bec5",
    "callback": "#1565c0",
    "client": "#64b5f6",
    "not_called_back": "#c62828",
    "line": "#1565c0",
    "line2": "#ef6c00",
    "other": "#cfd8dc",
}
PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True, "displaylogo": False}
DEFAULT_OUT = Path("dashboards")


def default_out_dir() -> Path:
    """Where `daily` and `report` write: VATS_DASHBOARDS_DIR, else ./dashboards."""
    return Path(os.environ.get("VATS_DASHBOARDS_DIR") or DEFAULT_OUT)


# -- Russian number and time formats ------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_count(value: Any) -> str:
    if _missing(value):
        return "—"
    return f"{round(float(value)):,}".replace(",", NBSP)


def fmt_share(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "—"
    return f"{float(value) * 100:.{digits}f}".replace(".", ",") + f"{NBSP}%"


def fmt_score(value: Any) -> str:
    return "—" if _missing(value) else f"{float(value):.2f}".replace(".", ",")


def fmt_duration(value: Any) -> str:
    """12 с, 4 мин 05 с, 2 ч 05 мин, 1 сут 3 ч."""
    if _missing(value):
        return "—"
    s = round(float(value))
    if s < 60:
        return f"{s}{NBSP}с"
    if s < 3600:
        return f"{s // 60}{NBSP}мин {s % 60:02d}{NBSP}с" if s % 60 else f"{s // 60}{NBSP}мин"
    if s < 172_800:
        h, m = divmod(s // 60, 60)
        return f"{h}{NBSP}ч {m:02d}{NBSP}мин" if m else f"{h}{NBSP}ч"
    d, h = divmod(s // 3600, 24)
    return f"{d}{NBSP}сут {h}{NBSP}ч" if h else f"{d}{NBSP}сут"


def fmt_dt(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    return value.strftime("%d.%m.%Y")


def fmt_value(tile: Tile, value: float | None = None, *, previous: bool = False) -> str:
    v = tile.previous if previous else (tile.value if value is None else value)
    return {
        "count": fmt_count,
        "share": fmt_share,
        "seconds": fmt_duration,
        "score": fmt_score,
    }[tile.format](v)


def fmt_change(tile: Tile) -> str:
    """▲ +3,2 % / ▼ −1,4 п.п. / = ; '—' when there is nothing to compare with."""
    change = tile.change
    if change is None:
        return "—"
    if tile.is_unchanged:  # rounds to nothing in the precision shown here
        return "= без изменений"
    arrow, sign = ("▲", "+") if change > 0 else ("▼", "−")
    size = abs(change)
    if tile.format == "share":
        text = f"{size * 100:.1f}".replace(".", ",") + f"{NBSP}п.п."
    elif tile.format == "score":
        text = f"{size:.2f}".replace(".", ",")
    elif change >= 9:
        return f"{arrow} в{NBSP}{1 + change:.0f}{NBSP}раз"
    else:
        text = f"{size * 100:.0f}{NBSP}%"
    return f"{arrow} {sign}{text}"


def is_http(url: Any) -> bool:
    return isinstance(url, str) and re.match(r"^https?://[^\s\"'<>]+$", url, re.I) is not None


def fmt_schedule(schedule: Sequence[tuple[float, float] | None]) -> str:
    """``Пн–Пт 09:00–18:00, Сб 10:00–16:00`` (runs of weekdays with the same hours)."""
    runs: list[tuple[int, int, tuple[float, float]]] = []
    for day, hours in enumerate(schedule):
        if hours is None:
            continue
        if runs and runs[-1][1] == day - 1 and runs[-1][2] == hours:
            runs[-1] = (runs[-1][0], day, hours)
        else:
            runs.append((day, day, hours))
    if not runs:
        return "рабочих дней нет"

    def hhmm(hour: float) -> str:
        minutes = round(hour * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    days = reports.WEEKDAYS_RU
    return ", ".join(
        f"{days[a]}{'–' + days[b] if b > a else ''} {hhmm(h[0])}–{hhmm(h[1])}" for a, b, h in runs
    )


def tel_href(number: Any) -> str | None:
    """``tel:+79001234567`` for a phone number made of digits (an optional leading +, spaces,
    dashes and brackets allowed); None for anything else, which is then shown as text."""
    if not isinstance(number, str):
        return None
    digits = re.sub(r"[\s()\-]", "", number)
    if not re.fullmatch(r"\+?\d{5,15}", digits):
        return None
    if len(digits) == 11 and digits[0] in "78":  # Russian numbers as the PBX reports them
        digits = "+7" + digits[1:]
    return f"tel:{digits}"


def _esc(value: Any) -> str:
    """PBX text for a plotly label: escaped, so plotly.js shows it as it is."""
    return html.escape("" if value is None else str(value), quote=False)


# -- templates ----------------------------------------------------------------------------------


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("vats_etl", "templates"),
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count=fmt_count,
        share=fmt_share,
        score=fmt_score,
        duration=fmt_duration,
        dt=fmt_dt,
        kpi_value=fmt_value,
        kpi_previous=lambda t: fmt_value(t, previous=True),
        kpi_change=fmt_change,
        is_http=is_http,
        tel=tel_href,
        schedule_text=fmt_schedule,
        miss_text=lambda miss: miss_text(miss),
        plain=plain_text,
    )
    return env


def plain_text(value: Any) -> str:
    """PBX text for an email's plain-text part: its angle brackets shown as ‹ › so that no
    part of a message carries markup (a name like ``<script>`` reads ‹script›)."""
    return ("" if value is None else str(value)).translate({ord("<"): "‹", ord(">"): "›"})


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@cache
def plotly_file() -> str:
    """The name of the shared plotly.js next to the pages; versioned, so that a page never
    runs with a bundle it was not made for."""
    from plotly.offline import get_plotlyjs_version

    return f"plotly-{get_plotlyjs_version()}.min.js"


# -- charts -------------------------------------------------------------------------------------


@cache
def _template() -> go.layout.Template:
    """plotly_white's layout without its trace defaults and map/3D/polar settings: the whole
    template cost 30 ms per chart to copy and serialise (a third of a daily's dashboards) and
    7 KB of every chart's HTML; every chart here sets its own colours."""
    import plotly.io as pio

    layout = pio.templates["plotly_white"].layout.to_plotly_json()
    keep = {"autotypenumbers", "colorway", "font", "hovermode", "hoverlabel", "title"}
    keep |= {"paper_bgcolor", "plot_bgcolor", "xaxis", "yaxis"}
    return go.layout.Template(layout={key: layout[key] for key in keep if key in layout})


def _layout(fig: go.Figure, *, height: int = 340, **more: Any) -> go.Figure:
    fig.update_layout(
        template=_template(),
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        separators=f",{NBSP}",
        font={"family": "DejaVu Sans, Segoe UI, Roboto, Arial, sans-serif", "size": 12},
        legend={"orientation": "h", "y": -0.15, "x": 0},
        hoverlabel={"namelength": -1},
        **more,
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _div(fig: go.Figure, name: str) -> Markup:
    return Markup(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{name}",
            config=PLOTLY_CONFIG,
            default_height=f"{fig.layout.height or 340}px",
            default_width="100%",
        )
    )


def chart_daily(daily: pl.DataFrame) -> go.Figure | None:
    if daily.is_empty() or int(daily["offered"].sum()) + int(daily["other"].sum()) == 0:
        return None
    x = daily["local_date"].to_list()
    fig = go.Figure()
    for column, name, color in (
        ("answered", "Отвечено", COLORS["answered"]),
        ("missed", "Пропущено", COLORS["missed"]),
        ("short_abandons", "Короткие сбросы", COLORS["short"]),
        ("other", "Вне рабочего времени и без отдела", COLORS["other"]),
    ):
        fig.add_bar(
            x=x,
            y=daily[column].to_list(),
            name=name,
            marker_color=color,
            hovertemplate=f"%{{x|%d.%m.%Y}}<br>{name}: %{{y}}<extra></extra>",
        )
    fig.update_xaxes(tickformat="%d.%m", hoverformat="%d.%m.%Y")
    return _layout(fig, barmode="stack", bargap=0.15, yaxis_title="звонков")


def chart_heatmap(
    heat: pl.DataFrame, schedule: Sequence[tuple[float, float] | None] = ()
) -> go.Figure | None:
    """Missed rate of the headline calls by weekday and hour; the working hours outlined.
    Cells outside them hold only calls after hours (no rate: the hover tells how many)."""
    busy = heat.filter((pl.col("offered") > 0) | (pl.col("other") > 0))
    if busy.is_empty():
        return None
    first, last = int(busy["local_hour"].min()), int(busy["local_hour"].max())  # type: ignore[arg-type]
    shown = list(range(first, last + 1))
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    custom: list[list[list[Any]]] = []
    for day in range(1, 8):
        row = heat.filter(pl.col("weekday") == day).sort("local_hour")
        rates = row["missed_rate"].to_list()
        missed = row["missed"].to_list()
        answerable = row["answerable"].to_list()
        other, other_missed = row["other"].to_list(), row["other_missed"].to_list()
        z.append([None if rates[h] is None else rates[h] * 100 for h in shown])
        text.append([str(missed[h]) if answerable[h] else "" for h in shown])
        custom.append([[missed[h], answerable[h], other_missed[h], other[h]] for h in shown])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d}" for h in shown],
            y=list(reports.WEEKDAYS_RU),
            text=text,
            texttemplate="%{text}",
            customdata=custom,
            colorscale=[[0, "#fff5f0"], [0.5, "#fb6a4a"], [1, "#67000d"]],
            zmin=0,
            hoverongaps=False,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "% пропущ."}, "ticksuffix": "%"},
            hovertemplate=(
                "%{y} %{x}:00<br>в рабочее время: пропущено %{customdata[0]}"
                " из %{customdata[1]} (%{z:.1f} %)<br>вне рабочего времени и без отдела:"
                " пропущено %{customdata[2]} из %{customdata[3]}<extra></extra>"
            ),
        )
    )
    for day, hours in enumerate(schedule):  # the working hours of each weekday, outlined
        if hours is None:
            continue
        start, end = max(hours[0], first), min(hours[1], last + 1)
        if start >= end:
            continue
        fig.add_shape(
            type="rect",
            x0=start - first - 0.5,
            x1=end - first - 0.5,
            y0=day - 0.5,
            y1=day + 0.5,
            line={"color": "#1f2933", "width": 1.5},
            fillcolor="rgba(0,0,0,0)",
        )
    fig.update_xaxes(type="category", tickangle=0, title="час")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=330)


def chart_weekly_line(
    weekly: pl.DataFrame, column: str, name: str, *, percent: bool = False, p90: str | None = None
) -> go.Figure | None:
    """A weekly trend of complete weeks only: a week the data covers in part would read
    as a drop or a jump."""
    weekly = weekly.filter(pl.col("is_complete") & pl.col(column).is_not_null())
    if weekly.is_empty():
        return None
    x = weekly["week_start"].to_list()
    scale = 100 if percent else 1
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=[v * scale for v in weekly[column].to_list()],
        name=name,
        mode="lines+markers",
        line={"color": COLORS["line"], "width": 2},
        hovertemplate=(
            f"неделя с %{{x|%d.%m.%Y}}<br>{name}: %{{y:.1f}}{' %' if percent else ' с'}"
            "<extra></extra>"
        ),
    )
    if p90 is not None:
        fig.add_scatter(
            x=x,
            y=weekly[p90].to_list(),
            name="90-й процентиль",
            mode="lines+markers",
            line={"color": COLORS["line2"], "width": 2, "dash": "dot"},
            hovertemplate="неделя с %{x|%d.%m.%Y}<br>p90: %{y:.0f} с<extra></extra>",
        )
    fig.update_xaxes(tickformat="%d.%m", hoverformat="%d.%m.%Y")
    fig.update_yaxes(ticksuffix=" %" if percent else " с", rangemode="tozero")
    return _layout(fig, height=300, showlegend=p90 is not None)


def partial_weeks(weekly: pl.DataFrame) -> str:
    """``неделя с 01.12`` list of the weeks a trend leaves out (data only in part)."""
    left_out = weekly.filter(~pl.col("is_complete"))["week_start"].to_list()
    if not left_out:
        return ""
    days = ", ".join(f"{d:%d.%m.%Y}" for d in left_out)
    return f"Недели, которые данные покрывают не целиком, не показаны (с {days})."


def chart_recovery(bins: pl.DataFrame) -> go.Figure | None:
    """How long recoveries took: horizontal bars, so every bin's label reads in full."""
    if bins.is_empty() or int(bins["callback"].sum()) + int(bins["client"].sum()) == 0:
        return None
    labels = bins["label"].to_list()
    fig = go.Figure()
    for column, name in (("callback", "перезвонили"), ("client", "клиент дозвонился сам")):
        fig.add_bar(
            y=labels,
            x=bins[column].to_list(),
            name=name,
            orientation="h",
            marker_color=COLORS[column],
            hovertemplate=f"%{{y}}: %{{x}} ({name})<extra></extra>",
        )
    fig.update_yaxes(type="category", autorange="reversed")
    return _layout(fig, barmode="stack", height=max(260, 60 + 26 * bins.height))


def chart_breakdown(frame: pl.DataFrame, column: str) -> go.Figure | None:
    frame = frame.filter(pl.col("missed") > 0).head(CHART_CATEGORIES)
    if frame.is_empty():
        return None
    frame = frame.reverse()  # largest on top
    labels = [_esc(v) for v in frame[column].to_list()]
    fig = go.Figure()
    for key, name, color in (
        ("recovered_callback", "перезвонили в окне", COLORS["callback"]),
        ("recovered_client", "клиент дозвонился сам", COLORS["client"]),
        ("pending", "ждут перезвона", COLORS["short"]),
        ("not_called_back", "не перезвонили за окно", COLORS["not_called_back"]),
    ):
        fig.add_bar(
            y=labels,
            x=frame[key].to_list(),
            name=name,
            orientation="h",
            marker_color=color,
            hovertemplate=f"%{{y}}<br>{name}: %{{x}}<extra></extra>",
        )
    fig.update_yaxes(type="category")
    return _layout(fig, barmode="stack", height=max(260, 40 + 26 * frame.height))


def chart_reason(frame: pl.DataFrame) -> go.Figure | None:
    if frame.is_empty():
        return None
    frame = frame.reverse()
    labels = frame["reason_ru"].to_list()
    fig = go.Figure()
    for column, name, color in (
        ("recovered", "поговорили в окне", COLORS["callback"]),
        ("pending", "ждут перезвона", COLORS["short"]),
        ("not_called_back", "не перезвонили за окно", COLORS["not_called_back"]),
    ):
        fig.add_bar(
            y=labels,
            x=frame[column].to_list(),
            name=name,
            orientation="h",
            marker_color=color,
            hovertemplate=f"%{{y}}<br>{name}: %{{x}}<extra></extra>",
        )
    fig.update_yaxes(type="category")
    return _layout(fig, barmode="stack", height=max(240, 60 + 30 * frame.height))


def chart_distribution(frame: pl.DataFrame) -> go.Figure | None:
    if int(frame["calls"].sum()) == 0:
        return None
    colors = ["#c62828", "#ef6c00", "#f9a825", "#7cb342", "#2e7d32"]
    fig = go.Figure(
        go.Bar(
            x=[str(r) for r in frame["rating"].to_list()],
            y=frame["calls"].to_list(),
            marker_color=colors,
            hovertemplate="оценка %{x}: %{y} звонков<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title="оценка")
    return _layout(fig, height=300, yaxis_title="звонков")


def chart_rating_trend(weekly: pl.DataFrame) -> go.Figure | None:
    weekly = weekly.filter(pl.col("is_complete"))
    if weekly.is_empty():
        return None
    x = weekly["week_start"].to_list()
    fig = go.Figure()
    fig.add_bar(
        x=x,
        y=weekly["rated_calls"].to_list(),
        name="оценённых звонков",
        marker_color="#cfd8dc",
        hovertemplate="неделя с %{x|%d.%m.%Y}<br>оценок: %{y}<extra></extra>",
    )
    fig.add_scatter(  # on the overlaying axis, so the line is drawn over the bars
        x=x,
        y=weekly["rating_mean"].to_list(),
        name="средняя оценка",
        mode="lines+markers",
        yaxis="y2",
        line={"color": COLORS["line"], "width": 2},
        hovertemplate="неделя с %{x|%d.%m.%Y}<br>средняя: %{y:.2f}<extra></extra>",
    )
    fig.update_xaxes(tickformat="%d.%m", hoverformat="%d.%m.%Y")
    return _layout(
        fig,
        height=300,
        yaxis={"title": "оценок", "rangemode": "tozero"},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "range": [1, 5.2],
            "dtick": 1,
            "title": "средняя оценка",
        },
    )


def chart_employees(frame: pl.DataFrame) -> go.Figure | None:
    ranked = frame.filter(pl.col("is_ranked")).head(EMPLOYEE_BARS)
    if ranked.is_empty():
        return None
    ranked = ranked.reverse()
    names = [
        _esc(n or login) for n, login in zip(ranked["user_name"], ranked["user_login"], strict=True)
    ]
    # two employees may share a name: the category is made unique by the login
    labels = [
        f"{name} ({_esc(login)})" if names.count(name) > 1 else name
        for name, login in zip(names, ranked["user_login"], strict=True)
    ]
    custom = [
        [n, f"{(m or 0):.2f}".replace(".", ",")]
        for n, m in zip(ranked["rated_calls"], ranked["rating_mean"], strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=[v * 100 for v in ranked["csat_wilson_lower"].to_list()],
            orientation="h",
            marker_color=COLORS["line"],
            customdata=custom,
            hovertemplate=(
                "%{y}<br>нижняя граница: %{x:.1f} %<br>оценок: %{customdata[0]}, "
                "средняя %{customdata[1]}<extra></extra>"
            ),
        )
    )
    fig.update_yaxes(type="category")
    fig.update_xaxes(ticksuffix=" %", range=[0, 100])
    return _layout(fig, height=max(260, 40 + 22 * ranked.height))


# -- pages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str  # overview | missed | ratings
    filename: str
    html: str


def suffix(department: str | None) -> str:
    """File name suffix of a department's pages: ``-отдел-продаж`` (none for the company)."""
    if department is None:
        return ""
    slug = re.sub(r"[^\w]+", "-", department.lower()).strip("-_")
    return f"-{slug or 'dept'}"


def filenames(department: str | None) -> dict[str, str]:
    end = suffix(department)
    return {name: f"{stem}{end}.html" for name, _, stem in PAGES} | {
        "csv": f"missed-calls{end}.csv"
    }


def _nav(department: str | None) -> list[tuple[str, str, str]]:
    names = filenames(department)
    return [(name, label, names[name]) for name, label, _ in PAGES]


def _render(
    template: str,
    page: str,
    data: Overview | Missed | Ratings,
    charts: Mapping[str, go.Figure | None],
    **more: Any,
) -> str:
    meta = data.meta
    return (
        environment()
        .get_template(template)
        .render(
            title=TITLES[page],
            page=page,
            meta=meta,
            data=data,
            nav=_nav(meta.department),
            plotly_src=plotly_file(),
            charts={k: (None if fig is None else _div(fig, k)) for k, fig in charts.items()},
            **more,
        )
    )


def render_overview(data: Overview) -> str:
    charts = {
        "daily": chart_daily(data.daily),
        "heatmap": chart_heatmap(data.heatmap, data.meta.schedule),
        "service_level": chart_weekly_line(
            data.weekly, "service_level", "уровень сервиса", percent=True
        ),
        "asa": chart_weekly_line(data.weekly, "asa_s", "среднее ожидание", p90="asa_p90_s"),
    }
    return _render(
        "overview.html",
        "overview",
        data,
        charts,
        segment_rows=data.segments.to_dicts(),
        partial_weeks=partial_weeks(data.weekly),
        employee_rows=data.employees.head(TABLE_ROWS).to_dicts(),
    )


def render_missed(data: Missed) -> str:
    charts = {
        "recovery": chart_recovery(data.recovery_bins),
        "reason": chart_reason(data.by_reason),
        "department": chart_breakdown(data.by_department, "department"),
        "number": chart_breakdown(data.by_number, "diversion"),
    }
    return _render(
        "missed.html",
        "missed",
        data,
        charts,
        action_rows=data.action.head(ACTION_ROWS).to_dicts(),
        action_misses=int(data.action["misses"].sum()) if data.action.height else 0,
        action_counts=list_counts(data.action),
        late_rows=data.late.head(TABLE_ROWS).to_dicts(),
        department_rows=data.by_department.to_dicts(),
        number_rows=data.by_number.head(TABLE_ROWS).to_dicts(),
        segment_rows=data.segments.to_dicts(),
        employee_rows=data.employees.head(TABLE_ROWS).to_dicts(),
        csv_name=filenames(data.meta.department)["csv"],
    )


def render_ratings(data: Ratings, recordings: str | None = None) -> str:
    """`recordings`: where the copies of recordings are, seen from the page's folder: a low
    rating links its copy when there is one (the PBX's link expires), else the PBX's."""
    charts = {
        "distribution": chart_distribution(data.distribution),
        "trend": chart_rating_trend(data.weekly),
        "employees": chart_employees(data.employees),
    }
    low_rows = data.low.head(TABLE_ROWS).to_dicts()
    for row in low_rows:
        copy = row.get("record_copy")
        row["record_local"] = (
            f"{recordings}/{urllib.parse.quote(copy, safe='/=')}" if recordings and copy else None
        )
    return _render(
        "ratings.html",
        "ratings",
        data,
        charts,
        employee_rows=data.employees.head(TABLE_ROWS * 2).to_dicts(),
        low_rows=low_rows,
        partial_weeks=partial_weeks(data.weekly),
    )


def recordings_href(settings: Settings, out: Path) -> str:
    """The recordings folder as a link from pages written to `out` (relative, so the pages
    work opened from disk or served together with it)."""
    relative = os.path.relpath(settings.recordings_dir.resolve(), out.resolve())
    return urllib.parse.quote(Path(relative).as_posix())


# -- CSV ----------------------------------------------------------------------------------------

ACTION_CSV_COLUMNS = (
    ("priority", "Приоритет"),
    ("client", "Клиент"),
    ("department", "Отдел"),
    ("owner_name", "Сотрудник"),
    ("status_ru", "Статус"),
    ("deadline_at", "Окно первого пропуска до"),
    ("misses", "Пропусков"),
    ("first_missed_at", "Первый пропуск"),
    ("last_missed_at", "Последний пропуск"),
    ("segment_ru", "Когда звонил"),
    ("missed_text", "Пропуски"),
)
_FORMULA = r"^([=@\t\r]|[+\-]([^0-9]|$))"


def miss_text(miss: Mapping[str, Any]) -> str:
    """One miss of a call-back row in words, as it was: ``05.06.2024 13:00, номер
    74950000001, в рабочее время, не ответили, попыток 0, Иванова Анна``."""
    parts = [
        fmt_dt(miss["started_at"]),
        f"номер {miss['diversion'] or '—'}",
        str(miss["hours_ru"]),
        str(miss["reason_ru"]),
        f"попыток {miss['callback_attempts']}",
    ]
    if miss.get("employee_name"):
        parts.append(str(miss["employee_name"]))
    return ", ".join(parts)


def list_counts(action: pl.DataFrame) -> dict[str, int]:
    """Rows of the list by the segment of their misses, and the misses they list."""
    counts = dict.fromkeys(reports.MISS_HOURS_RU, 0)
    for segment in action["segment"].to_list() if action.height else []:
        counts[segment] = counts.get(segment, 0) + 1
    counts["misses"] = int(action["misses"].sum()) if action.height else 0
    return counts


def action_csv(action: pl.DataFrame) -> str:
    """The whole call-back list as CSV for a spreadsheet: one row per client and department
    (its misses in one cell, each as it was), in priority order; UTF-8 with a BOM, `;`,
    local times; a text cell that a spreadsheet would run as a formula gets a leading `'`."""
    if "missed" in action.columns:
        texts = [" | ".join(miss_text(m) for m in misses) for misses in action["missed"]]
        action = action.with_columns(missed_text=pl.Series(texts, dtype=pl.String))
    columns = []
    for key, label in ACTION_CSV_COLUMNS:
        if key not in action.columns:
            action = action.with_columns(pl.lit(None, dtype=pl.String).alias(key))
        column = pl.col(key)
        dtype = action.schema[key]
        if isinstance(dtype, pl.Datetime):
            column = column.dt.strftime("%d.%m.%Y %H:%M")
        elif dtype == pl.Boolean:
            column = pl.when(column).then(pl.lit("да")).otherwise(pl.lit("нет"))
        elif dtype == pl.String:
            column = pl.when(column.str.contains(_FORMULA)).then("'" + column).otherwise(column)
        columns.append(column.alias(label))
    body = action.select(columns).write_csv(separator=";", line_terminator="\r\n")
    return "\ufeff" + body


# -- building the pages of a period and writing them to a folder --------------------------------


def build(
    reader: reports.Reader, *, late_after_s: int = 3600, recordings: str | None = None
) -> list[tuple[str, str]]:
    """(file name, content) of every page of the reader's period and department, and the
    plotly.js they share; `recordings`: :func:`recordings_href`, to link copies held."""
    names = filenames(reader.department)
    missed = reader.missed(late_after_s)
    return [
        (names["overview"], render_overview(reader.overview())),
        (names["missed"], render_missed(missed)),
        (names["csv"], action_csv(missed.action)),
        (names["ratings"], render_ratings(reader.ratings(), recordings)),
        (plotly_file(), plotly_js()),
    ]


def write_files(out: Path, files: Iterable[tuple[str, str]]) -> list[Path]:
    """Write atomically (a browser or mailer never sees half a page); a file that is already
    there as it should be (the shared plotly.js, 4.8 MB) is left alone."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files:
        target = out / name
        data = content.encode("utf-8")
        if not (target.is_file() and target.stat().st_size == len(data)) or (
            target.read_bytes() != data
        ):
            tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        written.append(target)
    return written


def write(
    settings: Settings,
    period: Period,
    out: Path,
    *,
    department: str | None = None,
    now: datetime | None = None,
    on_page: Callable[[str], None] | None = None,
) -> list[Path]:
    """Query the warehouse (read copy) and write every dashboard of `period` to `out`."""
    with reports.open_read(settings) as con:
        reader = reports.Reader(con, period, department, now=now)
        files = build(reader, recordings=recordings_href(settings, out))
    written = write_files(out, files)
    if on_page is not None:
        for path in written:
            on_page(str(path))
    return written


def default_period(settings: Settings, now: datetime | None = None) -> Period:
    """The last complete week (Monday to Sunday) in the company zone: the weekly email's."""
    today = (now or datetime.now(UTC)).astimezone(settings.zone).date()
    return Period.last_complete_week(today)


def recent_period(settings: Settings, now: datetime | None = None) -> Period:
    """The last seven full days, up to yesterday, in the company zone: `report`'s default
    and what `daily` rebuilds."""
    today = (now or datetime.now(UTC)).astimezone(settings.zone).date()
    return Period(today - timedelta(days=7), today - timedelta(days=1))


__all__: Sequence[str] = (
    "action_csv",
    "build",
    "default_out_dir",
    "default_period",
    "recent_period",
    "render_missed",
    "render_overview",
    "render_ratings",
    "write",
)
