"""Dashboards: the data of :mod:`vats_etl.reports` → self-contained HTML pages (plotly).

Three pages — ``overview.html``, ``missed-calls.html``, ``ratings.html`` (plus
``missed-calls.csv``, the whole "not called back" list) — each one file that opens offline:
plotly.js is inlined once in the page head and every chart is a ``<div>`` rendered with
``include_plotlyjs=False``. Labels are Russian, times are in the company zone.

Escaping: pages are Jinja2 templates with autoescape on, so every value a template prints
is escaped; the only unescaped inserts are plotly.js itself and the chart ``<div>``s plotly
writes (its JSON escapes ``<``, ``>`` and ``&``). Text that came from the PBX and goes into
a chart (department, employee, number) is HTML-escaped first as well, because plotly.js
reads a small HTML subset (``<b>``, ``<a href>``, ...) in labels; escaped, it shows the text
as it is. Links are made only from http(s) URLs.

I/O is at the edge: :func:`write` queries the warehouse (read-only) and writes the files
atomically; everything else returns strings.
"""

from __future__ import annotations

import html
import math
import os
import re
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
    }[tile.kind](v)


def fmt_change(tile: Tile) -> str:
    """▲ +3,2 % / ▼ −1,4 п.п. / = ; '—' when there is nothing to compare with."""
    change = tile.change
    if change is None:
        return "—"
    shown = {"share": 1000, "score": 100}.get(tile.kind, 100)  # what the text can show
    if round(abs(change) * shown) == 0:
        return "= без изменений"
    arrow, sign = ("▲", "+") if change > 0 else ("▼", "−")
    size = abs(change)
    if tile.kind == "share":
        text = f"{size * 100:.1f}".replace(".", ",") + f"{NBSP}п.п."
    elif tile.kind == "score":
        text = f"{size:.2f}".replace(".", ",")
    elif change >= 9:
        return f"{arrow} в{NBSP}{1 + change:.0f}{NBSP}раз"
    else:
        text = f"{size * 100:.0f}{NBSP}%"
    return f"{arrow} {sign}{text}"


def is_http(url: Any) -> bool:
    return isinstance(url, str) and re.match(r"^https?://[^\s\"'<>]+$", url, re.I) is not None


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
    )
    return env


@cache
def plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())


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
    if daily.is_empty() or int(daily["offered"].sum()) == 0:
        return None
    x = daily["local_date"].to_list()
    fig = go.Figure()
    for column, name, color in (
        ("answered", "Отвечено", COLORS["answered"]),
        ("missed", "Пропущено", COLORS["missed"]),
        ("short_abandons", "Короткие сбросы", COLORS["short"]),
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


def chart_heatmap(heat: pl.DataFrame) -> go.Figure | None:
    if heat.is_empty() or int(heat["offered"].sum()) == 0:
        return None
    hours = [h for h in range(24) if int(heat.filter(pl.col("local_hour") == h)["offered"].sum())]
    first, last = min(hours), max(hours)
    shown = list(range(first, last + 1))
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    custom: list[list[list[Any]]] = []
    for day in range(1, 8):
        row = heat.filter(pl.col("weekday") == day).sort("local_hour")
        rates = row["missed_rate"].to_list()
        missed = row["missed"].to_list()
        answerable = row["answerable"].to_list()
        z.append([None if rates[h] is None else rates[h] * 100 for h in shown])
        text.append([str(missed[h]) if answerable[h] else "" for h in shown])
        custom.append([[missed[h], answerable[h]] for h in shown])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d}:00" for h in shown],
            y=list(reports.WEEKDAYS_RU),
            text=text,
            texttemplate="%{text}",
            customdata=custom,
            colorscale=[[0, "#fff5f0"], [0.5, "#fb6a4a"], [1, "#67000d"]],
            zmin=0,
            hoverongaps=False,
            colorbar={"title": {"text": "% пропущ."}, "ticksuffix": "%"},
            hovertemplate=(
                "%{y} %{x}<br>пропущено %{customdata[0]} из %{customdata[1]}"
                " (%{z:.1f} %)<extra></extra>"
            ),
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=320)


def chart_weekly_line(
    weekly: pl.DataFrame, column: str, name: str, *, percent: bool = False, p90: str | None = None
) -> go.Figure | None:
    weekly = weekly.filter(pl.col(column).is_not_null())
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


def chart_recovery(bins: pl.DataFrame) -> go.Figure | None:
    if bins.is_empty() or int(bins["callback"].sum()) + int(bins["client"].sum()) == 0:
        return None
    labels = bins["label"].to_list()
    fig = go.Figure()
    for column, name in (("callback", "перезвонили"), ("client", "клиент дозвонился сам")):
        fig.add_bar(
            x=labels,
            y=bins[column].to_list(),
            name=name,
            marker_color=COLORS[column],
            hovertemplate=f"%{{x}}: %{{y}} ({name})<extra></extra>",
        )
    fig.update_xaxes(type="category")
    return _layout(fig, barmode="stack", yaxis_title="пропущенных")


def chart_breakdown(frame: pl.DataFrame, column: str) -> go.Figure | None:
    frame = frame.filter(pl.col("missed") > 0).head(CHART_CATEGORIES)
    if frame.is_empty():
        return None
    frame = frame.reverse()  # largest on top
    labels = [_esc(v) for v in frame[column].to_list()]
    fig = go.Figure()
    for key, name, color in (
        ("recovered_callback", "перезвонили", COLORS["callback"]),
        ("recovered_client", "клиент дозвонился сам", COLORS["client"]),
        ("not_called_back", "не перезвонили", COLORS["not_called_back"]),
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
    fig.add_bar(
        y=labels,
        x=(frame["missed"] - frame["not_called_back"]).to_list(),
        name="восстановлены",
        orientation="h",
        marker_color=COLORS["callback"],
        hovertemplate="%{y}<br>восстановлены: %{x}<extra></extra>",
    )
    fig.add_bar(
        y=labels,
        x=frame["not_called_back"].to_list(),
        name="не перезвонили",
        orientation="h",
        marker_color=COLORS["not_called_back"],
        hovertemplate="%{y}<br>не перезвонили: %{x}<extra></extra>",
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


def _nav(department: str | None, with_nav: bool) -> list[tuple[str, str, str]]:
    if not with_nav:
        return []
    names = filenames(department)
    return [(name, label, names[name]) for name, label, _ in PAGES]


def _render(
    template: str,
    page: str,
    data: Overview | Missed | Ratings,
    charts: Mapping[str, go.Figure | None],
    *,
    with_nav: bool = True,
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
            nav=_nav(meta.department, with_nav),
            plotly_js=plotly_js(),
            charts={k: (None if fig is None else _div(fig, k)) for k, fig in charts.items()},
            **more,
        )
    )


def render_overview(data: Overview, *, with_nav: bool = True) -> str:
    charts = {
        "daily": chart_daily(data.daily),
        "heatmap": chart_heatmap(data.heatmap),
        "service_level": chart_weekly_line(
            data.weekly, "service_level", "уровень сервиса", percent=True
        ),
        "asa": chart_weekly_line(data.weekly, "asa_s", "среднее ожидание", p90="asa_p90_s"),
    }
    return _render("overview.html", "overview", data, charts, with_nav=with_nav)


def render_missed(data: Missed, *, with_nav: bool = True) -> str:
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
        with_nav=with_nav,
        action_rows=data.action.head(ACTION_ROWS).to_dicts(),
        late_rows=data.late.head(TABLE_ROWS).to_dicts(),
        department_rows=data.by_department.to_dicts(),
        number_rows=data.by_number.head(TABLE_ROWS).to_dicts(),
        csv_name=filenames(data.meta.department)["csv"],
    )


def render_ratings(data: Ratings, *, with_nav: bool = True) -> str:
    charts = {
        "distribution": chart_distribution(data.distribution),
        "trend": chart_rating_trend(data.weekly),
        "employees": chart_employees(data.employees),
    }
    return _render(
        "ratings.html",
        "ratings",
        data,
        charts,
        with_nav=with_nav,
        employee_rows=data.employees.head(TABLE_ROWS * 2).to_dicts(),
        low_rows=data.low.head(TABLE_ROWS).to_dicts(),
    )


# -- CSV ----------------------------------------------------------------------------------------

ACTION_CSV_COLUMNS = (
    ("client", "Клиент"),
    ("first_missed_at", "Первый пропуск"),
    ("last_missed_at", "Последний пропуск"),
    ("misses", "Пропусков"),
    ("diversion", "Номер, на который звонили"),
    ("department", "Отдел"),
    ("reason_ru", "Причина"),
    ("callback_attempts", "Попыток перезвонить"),
    ("deadline_at", "Окно перезвона до"),
    ("is_window_open", "Окно ещё открыто"),
)
_FORMULA = r"^([=@\t\r]|[+\-]([^0-9]|$))"


def action_csv(action: pl.DataFrame) -> str:
    """The whole "not called back" list as CSV for a spreadsheet: UTF-8 with a BOM, `;`,
    local times; a text cell that a spreadsheet would run as a formula gets a leading `'`."""
    columns = []
    for key, label in ACTION_CSV_COLUMNS:
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


# -- the edge -----------------------------------------------------------------------------------


def build(reader: reports.Reader, *, late_after_s: int = 3600) -> list[tuple[str, str]]:
    """(file name, content) of every page of the reader's period and department."""
    names = filenames(reader.department)
    missed = reader.missed(late_after_s)
    return [
        (names["overview"], render_overview(reader.overview())),
        (names["missed"], render_missed(missed)),
        (names["csv"], action_csv(missed.action)),
        (names["ratings"], render_ratings(reader.ratings())),
    ]


def write_files(out: Path, files: Iterable[tuple[str, str]]) -> list[Path]:
    """Write atomically (a browser or mailer never sees half a page)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files:
        target = out / name
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(content, encoding="utf-8")
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
        files = build(reader)
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
