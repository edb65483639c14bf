"""dashboards: formats, self-contained pages, escaping of PBX text, CSV, and `vats-etl report`.
(What a browser makes of the pages: tests/browser/.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from tests.support import small_warehouse as small
from vats_etl import dashboards, reports, warehouse
from vats_etl.config import Settings
from vats_etl.reports import Period, Reader, Tile

NBSP = "\u00a0"


def test_russian_formats() -> None:
    assert dashboards.fmt_count(1234567) == f"1{NBSP}234{NBSP}567"
    assert dashboards.fmt_share(0.8734) == f"87,3{NBSP}%"
    assert dashboards.fmt_score(4.126) == "4,13"
    assert dashboards.fmt_duration(12) == f"12{NBSP}с"
    assert dashboards.fmt_duration(245) == f"4{NBSP}мин 05{NBSP}с"
    assert dashboards.fmt_duration(7500) == f"2{NBSP}ч 05{NBSP}мин"
    assert dashboards.fmt_duration(86_400) == f"24{NBSP}ч"
    assert dashboards.fmt_duration(3 * 86_400 + 7200) == f"3{NBSP}сут 2{NBSP}ч"
    assert dashboards.fmt_dt(datetime(2025, 3, 9, 7, 5)) == "09.03.2025 07:05"
    for fmt in (dashboards.fmt_count, dashboards.fmt_share, dashboards.fmt_duration):
        assert fmt(None) == "—" and fmt(float("nan")) == "—"


def test_change_text() -> None:
    def change(format: str, value: float, previous: float) -> str:
        return dashboards.fmt_change(Tile("k", "l", format, "up", value, previous))  # type: ignore[arg-type]

    assert change("count", 120, 100) == f"▲ +20{NBSP}%"
    assert change("share", 0.71, 0.735) == f"▼ −2,5{NBSP}п.п."
    assert change("share", 0.7001, 0.7) == "= без изменений"  # rounds to 0,0
    assert change("score", 4.2, 4.0) == "▲ +0,20"
    assert change("count", 1000, 10) == f"▲ в{NBSP}100{NBSP}раз"
    assert dashboards.fmt_change(Tile("k", "l", "count", "up", 5, None)) == "—"


def test_phone_numbers_become_tel_links_only_when_they_are_numbers() -> None:
    assert dashboards.tel_href("79001234567") == "tel:+79001234567"
    assert dashboards.tel_href("89001234567") == "tel:+79001234567"
    assert dashboards.tel_href("+7 (900) 123-45-67") == "tel:+79001234567"
    assert dashboards.tel_href("74950000001") == "tel:+74950000001"
    assert dashboards.tel_href("2345") is None  # too short for a number
    for bad in (None, "", "anonymous", "<b onmouseover=alert(3)>74950000000</b>", "7900;1"):
        assert dashboards.tel_href(bad) is None, bad


def test_schedule_text() -> None:
    weekdays = (9.0, 18.0)
    assert dashboards.fmt_schedule([weekdays] * 5 + [None, None]) == "Пн–Пт 09:00–18:00"
    assert (
        dashboards.fmt_schedule([weekdays] * 5 + [(10.0, 16.5), None])
        == "Пн–Пт 09:00–18:00, Сб 10:00–16:30"
    )
    assert dashboards.fmt_schedule([(0.0, 24.0)] * 7) == "Пн–Вс 00:00–24:00"
    assert dashboards.fmt_schedule([None] * 7) == "рабочих дней нет"


def test_trend_charts_leave_out_partial_weeks() -> None:
    import polars as pl

    weekly = pl.DataFrame(
        {
            "week_start": [date(2024, 2, 19), date(2024, 2, 26), date(2024, 3, 4)],
            "is_complete": [False, True, False],
            "service_level": [0.5, 0.8, 0.2],
        }
    )
    fig = dashboards.chart_weekly_line(weekly, "service_level", "уровень сервиса", percent=True)
    assert fig is not None and list(fig.data[0].y) == [80.0]
    note = dashboards.partial_weeks(weekly)
    assert "не показаны" in note and "19.02.2024" in note and "04.03.2024" in note
    complete = weekly.with_columns(is_complete=pl.lit(True))
    assert dashboards.partial_weeks(complete) == ""


def test_file_names_per_department() -> None:
    assert dashboards.filenames(None) == {
        "overview": "overview.html",
        "missed": "missed-calls.html",
        "ratings": "ratings.html",
        "csv": "missed-calls.csv",
    }
    assert (
        dashboards.filenames("Отдел продаж / Опт")["overview"] == "overview-отдел-продаж-опт.html"
    )
    assert dashboards.suffix("../../etc") == "-etc"  # never a path


def test_default_periods() -> None:
    settings = small.settings_for(Path("/nonexistent/v.duckdb"))
    monday_morning = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 08:00 Monday in Moscow
    assert dashboards.default_period(settings, monday_morning) == Period.week("2026-W47")
    assert dashboards.recent_period(settings, monday_morning) == Period(
        date(2026, 11, 16), date(2026, 11, 22)
    )
    late_sunday = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)  # already Monday 00:30 in Moscow
    assert dashboards.recent_period(settings, late_sunday).last == date(2026, 11, 22)


# -- pages built from an emulated company with hostile names -----------------------------------


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small.build(tmp_path_factory.mktemp("dash"))


@pytest.fixture(scope="module")
def pages(settings: Settings) -> Iterator[dict[str, str]]:
    with reports.open_read(settings) as con:
        files = dashboards.build(Reader(con, small.WEEK, now=small.NOW))
    yield dict(files)


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)


def test_pages_share_one_local_plotly_and_stay_small(pages: dict[str, str]) -> None:
    plotly_js = dashboards.plotly_js()
    shared = dashboards.plotly_file()
    assert re.fullmatch(r"plotly-\d+\.\d+\.\d+\.min\.js", shared)
    assert pages[shared] == plotly_js  # the bundle goes into the folder once, next to the pages
    for name in ("overview.html", "missed-calls.html", "ratings.html"):
        page = pages[name]
        assert plotly_js[:200] not in page, name  # not inlined
        assert len(page.encode()) < 500_000, (name, len(page.encode()))
        sources = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]*)\"", page)
        assert sources == [shared], name  # one relative, local script: works offline
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"?(https?:)?//", page)
        assert "cdn.plot.ly" not in page
        charts = re.findall(r'id="(chart-[a-z_]+)" class="plotly-graph-div"', page)
        assert charts, name
        for chart in charts:  # every chart div is drawn by exactly one call
            drawn = re.findall(rf'Plotly\.newPlot\(\s*"{chart}"', page)
            assert len(drawn) == 1, (name, chart)
        assert 'lang="ru"' in page
        assert "Сформировано 10.06.2024 09:00" in page  # generation time, Moscow
        assert "данные по 09.06.2024" in page  # cut-off: the last call loaded
        assert "время Europe/Moscow" in page


def test_russian_labels_and_figures(pages: dict[str, str]) -> None:
    overview, missed, ratings = (
        pages["overview.html"],
        pages["missed-calls.html"],
        pages["ratings.html"],
    )
    assert "неделя 2024-W23 (3–9 июня 2024)" in overview
    for label in (
        "Поступило звонков",
        "Доля пропущенных по дням недели и часам",
        "Уровень сервиса",
    ):
        assert label in overview
    for label in (
        "Кому позвонить — клиентов:",
        "Через сколько восстановили контакт",
        "по причинам",
        "Сотрудники: ответили, пропустили, перезвонили",
    ):
        assert label in missed
    assert "Сотрудники: ответили, пропустили, перезвонили" in overview  # the roll-up's too
    for label in ("Распределение оценок", "Нижняя граница Вильсона", "Низкие оценки (1–2)"):
        assert label in ratings
    assert '"Пн","Вт","Ср","Чт","Пт","Сб","Вс"' in overview  # heatmap rows


def test_pbx_text_is_escaped_everywhere(pages: dict[str, str]) -> None:
    for name in ("overview.html", "missed-calls.html", "ratings.html"):
        page = pages[name]
        outside_scripts = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)
        for hostile in (small.XSS_NAME, small.XSS_DEPARTMENT, small.XSS_NUMBER):
            assert hostile not in page, (name, hostile)
        assert "<img" not in outside_scripts and "onerror" not in outside_scripts.replace(
            "onerror=alert(2)&gt;", ""
        )
        # chart JSON: plotly.js would read a raw "<script>" label as markup; it gets "&lt;"
        chart_json = "".join(_scripts(page)[1:])  # [0] is plotly.js itself
        assert "\\u003cscript\\u003ealert(1)" not in chart_json, name
        assert "\\u003cimg src=x" not in chart_json, name
    ratings = pages["ratings.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ratings  # the employee table
    # in a chart the name is an HTML-escaped label inside plotly's JSON
    assert '"&lt;script&gt;alert(1)&lt;\\u002fscript&gt;"' in "".join(_scripts(ratings)[1:])
    missed = pages["missed-calls.html"]
    assert "Отдел &lt;img src=x onerror=alert(2)&gt;" in missed
    assert "&lt;b onmouseover=alert(3)&gt;74950000000&lt;/b&gt;" in missed
    outside_scripts = re.sub(r"<script\b[^>]*>.*?</script>", "", missed, flags=re.S)
    owned = re.search(r'<tr data-client="79990007777".*?</tr>', outside_scripts, flags=re.S)
    assert owned, "the miss that rang at the <script> employee is on the list"
    escaped_name = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # the row's owner and the miss's employee, both escaped
    assert f'<span class="muted">{escaped_name}</span>' in owned[0]
    assert f"попыток 0 · {escaped_name}</li>" in owned[0]
    slow = re.search(r'<a href="tel:\+79990006666">.*?</tr>', outside_scripts, flags=re.S)
    assert slow, "the slow call-back by the <script> employee is listed"
    assert f"<td>{escaped_name}</td>" in slow[0]  # who called back


def test_only_http_recordings_become_links(pages: dict[str, str]) -> None:
    ratings = pages["ratings.html"]
    outside_scripts = re.sub(r"<script\b[^>]*>.*?</script>", "", ratings, flags=re.S)
    assert outside_scripts.count("javascript:") == 1  # shown as a title, never as a link
    assert 'title="javascript:alert(4)">ссылка недоступна' in ratings
    assert re.search(r'<a href="https://[^"]+" rel="noopener noreferrer"', ratings)


def test_action_list_csv(pages: dict[str, str], settings: Settings) -> None:
    text = pages["missed-calls.csv"]
    assert text.startswith("\ufeffПриоритет;Клиент;Отдел;Сотрудник;Статус;")
    lines = text.strip("\ufeff").splitlines()
    with reports.open_read(settings) as con:
        expected = Reader(con, small.WEEK).action_list()
    assert len(lines) == expected.height + 1 > 2
    assert [line.split(";")[1] for line in lines[1:]] == expected["client"].to_list()
    # the hostile miss: its department, status, the first window's end, one miss as it was
    hostile = next(line for line in lines if ";79990008888;" in line)
    assert hostile.split(";")[2:10] == [
        small.XSS_DEPARTMENT, "", "потерян", "06.06.2024 13:00", "1",
        "05.06.2024 13:00", "05.06.2024 13:00", "В рабочее время, в отделах",
    ]  # fmt: skip
    assert hostile.split(";")[10].startswith(
        "05.06.2024 13:00, номер <b onmouseover=alert(3)>74950000000</b>, в рабочее время, "
    )
    assert '"\'<b onmouseover=alert(3)>74950000000</b>"' not in text  # not a formula: kept
    assert "<b onmouseover=alert(3)>74950000000</b>" in text  # CSV is data, not HTML


def test_csv_cells_that_would_be_formulas_are_quoted() -> None:
    import polars as pl

    action = pl.DataFrame(
        {
            c: ['=HYPERLINK("x")' if c == "department" else None]
            for c, _ in dashboards.ACTION_CSV_COLUMNS
        },
        schema={c: pl.String for c, _ in dashboards.ACTION_CSV_COLUMNS},
    ).with_columns(client=pl.lit("+79001234567"), owner_name=pl.lit("-cmd"))
    text = dashboards.action_csv(action)
    assert "'=HYPERLINK" in text and "'-cmd" in text
    assert ";+79001234567;" in f";{text.splitlines()[1]}"  # a phone number stays as it is


def test_an_empty_period_renders_placeholders(settings: Settings) -> None:
    with reports.open_read(settings) as con:
        files = dict(dashboards.build(Reader(con, Period.week("2030-W01"))))
    for name in ("overview.html", "missed-calls.html", "ratings.html"):
        assert "Нет данных за период" in files[name]
        assert 'class="plotly-graph-div"' not in files[name]
        assert "заканчивается позже последних загруженных данных" in files[name]


# -- the command ---------------------------------------------------------------------------------


def run(settings: Settings, *args: str) -> tuple[int, str, str]:
    return small.cli("--db", str(settings.db_path), "--env-file", "/dev/null", "report", *args)


def test_report_command_writes_every_page(settings: Settings, tmp_path: Path) -> None:
    code, out, err = run(settings, "--week", "2024-W23", "--out", str(tmp_path))
    assert code == 0, err
    shared = dashboards.plotly_file()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(
        ["missed-calls.csv", "missed-calls.html", "overview.html", "ratings.html", shared]
    )
    assert out.split() == [
        str(tmp_path / n)
        for n in ("overview.html", "missed-calls.html", "missed-calls.csv", "ratings.html", shared)
    ]
    assert "неделя 2024-W23" in err and "data up to 2024-06-09" in err
    assert 'href="missed-calls.html"' in (tmp_path / "overview.html").read_text()
    # the next build leaves the shared script alone when it is already there as it should be
    before = (tmp_path / shared).stat().st_mtime_ns
    code, _, err = run(settings, "--week", "2024-W22", "--out", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / shared).stat().st_mtime_ns == before


def test_report_for_a_department_and_a_range(settings: Settings, tmp_path: Path) -> None:
    code, _, err = run(
        settings, "--from", "2024-05-27", "--to", "2024-06-09", "--department",
        small.XSS_DEPARTMENT, "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    page = (tmp_path / "missed-calls-отдел-img-src-x-onerror-alert-2.html").read_text()
    assert "27.05.2024 – 09.06.2024" in page and "warning" not in err
    assert 'href="ratings-отдел-img-src-x-onerror-alert-2.html"' in page
    code, _, err = run(
        settings, "--week", "2024-W23", "--department", "Нет такого", "--out", str(tmp_path)
    )
    assert code == 0 and "warning: no calls of department 'Нет такого'" in err


def test_report_command_errors(settings: Settings, tmp_path: Path) -> None:
    code, _, err = run(settings, "--week", "2024-W23", "--from", "2024-06-01", "--to", "2024-06-02")
    assert code == 2 and "either --week or --from/--to" in err
    code, _, err = run(settings, "--from", "2024-06-01")
    assert code == 2 and "go together" in err
    code, _, err = run(settings, "--week", "2024-W99")  # a usage error: exit 2
    assert code == 2 and "2024 has no ISO week 99" in err and err.count("\n") == 1
    missing = small.settings_for(tmp_path / "missing.duckdb")
    code, _, err = run(missing, "--out", str(tmp_path / "x"))
    assert (
        code == 1 and err.strip().startswith("error: no warehouse at") and "\n" not in err.strip()
    )


def test_report_reads_the_read_copy_while_a_writer_holds_the_warehouse(
    settings: Settings, tmp_path: Path
) -> None:
    assert warehouse.read_copy_path(settings.db_path).exists()
    with duckdb.connect(str(settings.db_path)) as writer:  # a load in progress holds the file
        writer.execute("select 1")
        code, _, err = run(settings, "--week", "2024-W23", "--out", str(tmp_path))
    assert code == 0, err


def test_a_low_rating_links_the_copy_of_its_recording_when_there_is_one(tmp_path: Path) -> None:
    """The PBX's recording links expire: where `vats-etl recordings` holds a copy, the
    ratings page links the copy (relative to the page, escaped), elsewhere the PBX's link."""
    settings = small.build(tmp_path)
    with reports.open_read(settings) as con:
        low = con.execute(
            "select uid, local_date, record_url from low_ratings "
            "where record_url like 'http%' and local_date between ? and ? order by uid",
            [small.WEEK.first, small.WEEK.last],
        ).fetchall()
    (held, day, _), (other, _, other_link), *_ = low
    with warehouse.connect(settings.db_path, company=warehouse.Company("Europe/Moscow")) as con:
        con.execute(
            "insert into recordings values (?, ?, ?, 10, 'ab', 'copied', null, now()), "
            "('xss-low', ?, ?, 10, 'cd', 'copied', null, now())",
            [held, day, f"date={day}/{held}.mp3", day, 'date=x/"><script>alert(5)</script>.mp3'],
        )
    warehouse.publish_read_copy(settings.db_path)
    out = tmp_path / "pages"
    dashboards.write(settings, small.WEEK, out, now=small.NOW)
    page = (out / "ratings.html").read_text("utf-8")
    assert f'<a href="../recordings/date={day}/{held}.mp3" target="_blank">запись</a>' in page
    assert f'href="{other_link}"' in page and other != held  # no copy: the PBX's link
    assert "alert(5)" not in page.replace("alert%285%29", "")
    assert "<script>alert(5)" not in page and "%3Cscript%3E" in page
