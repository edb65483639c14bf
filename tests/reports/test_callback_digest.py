"""The daily call-back digest (`vats-etl email-daily`), sent to a real SMTP server on
loopback: one message per department of the routing file with clients due — none for a
department with nobody to call — and the roll-up; the rows of callback_due in priority
order, `tel:` links, local times, under 100 KB, no script; nothing on a company holiday;
the flow that `serve` and `deploy` schedule."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tests.support import small_warehouse as support
from tests.support.smtp import parts, smtp_env, smtp_server, smtp_settings
from tests.support.warehouse_rows import DAY, T0, call, insert_calls, miss
from vats_etl import callback_digest, errors, reports, warehouse, weekly_email
from vats_etl.config import Settings

pytestmark = pytest.mark.timeout(180)

DAY_OF = date(2024, 6, 10)  # Monday: the data ends on Sunday evening (support.NOW: 09:00)
SALES, SUPPORT = "Отдел продаж", "Служба поддержки"
SALES_HEAD, SUPPORT_HEAD, XSS_HEAD = "sales@example.ru", "support@example.ru", "xss@example.ru"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return support.build(tmp_path_factory.mktemp("digest"))


@pytest.fixture(scope="module")
def due(settings: Settings) -> pl.DataFrame:
    """callback_due of the morning, asked directly: what every message must list."""
    with reports.open_read(settings) as con:
        return con.sql(
            "select client, department, status, deadline_at from callback_due(?, ?) "
            "order by priority",
            params=[DAY_OF, date(2024, 6, 7)],
        ).pl()


@pytest.fixture
def routing(tmp_path: Path) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(
        f'rollup = ["director@example.ru"]\n\n[departments]\n"{SALES}" = "{SALES_HEAD}"\n'
        f'"{SUPPORT}" = "{SUPPORT_HEAD}"\n"{support.XSS_DEPARTMENT}" = "{XSS_HEAD}"\n',
        "utf-8",
    )
    return path


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-client="(\d+)">', html)


def test_one_message_per_department_with_clients_due_and_the_roll_up(
    settings: Settings, routing: Path, due: pl.DataFrame
) -> None:
    with smtp_server() as (inbox, port):
        code, out, err = support.cli(
            "--env-file", "/dev/null", "email-daily", "--day", "2024-06-10",
            "--routing", str(routing), env=smtp_env(settings, port),
        )  # fmt: skip
    assert code == 0, err
    # the XSS department has nobody due this morning: no message for it
    assert [line.split(" -> ")[0] for line in out.splitlines()] == [
        f"sent {SALES}",
        f"sent {SUPPORT}",
        "sent roll-up",
    ]
    assert "sent 3 of 3 messages for the digest of 2024-06-10" in err
    by_to = {tuple(rcpt): message for _, rcpt, message in inbox.received}
    assert set(by_to) == {(SALES_HEAD,), (SUPPORT_HEAD,), ("ops@example.ru", "director@example.ru")}
    for recipients, department in (
        ((SALES_HEAD,), SALES),
        ((SUPPORT_HEAD,), SUPPORT),
        (("ops@example.ru", "director@example.ru"), None),
    ):
        message = by_to[recipients]
        rows = due if department is None else due.filter(pl.col("department") == department)
        assert rows.height > 0
        lost = rows.filter(pl.col("status") == "lost").height
        who = department or "все отделы"
        assert message["Subject"] == (
            f"Перезвонить сегодня · {who} · 10.06.2024: клиентов {rows.height} "
            f"(потеряны {lost}, окно истекает сегодня {rows.height - lost})"
        )
        assert len(message.as_bytes()) < 100_000
        plain, html, _ = parts(message)
        # the rows of callback_due, in priority order (the first `cap` of them)
        assert listed(html) == rows["client"].to_list()[: callback_digest.CAP]
        assert "<script" not in html.lower() and "<style" not in html
        for client in rows["client"].to_list()[:3]:
            assert f'href="tel:+7{client[1:]}"' in html  # one tap on a phone
        # local times: the first row's window, as Moscow reads it
        first = rows.row(0, named=True)
        deadline = first["deadline_at"].astimezone(reports.KpiSettings().zone)
        assert f"{deadline:%d.%m.%Y %H:%M}" in html and f"{deadline:%d.%m.%Y %H:%M}" in plain
        assert plain.startswith(str(message["Subject"]))
    assert [n for n in by_to[(SALES_HEAD,)].iter_attachments()] == []


def test_a_morning_with_nobody_to_call_sends_nothing(settings: Settings, routing: Path) -> None:
    with smtp_server() as (inbox, port):
        code, out, err = support.cli(
            "--env-file", "/dev/null", "email-daily", "--day", "2024-07-01",
            "--routing", str(routing), env=smtp_env(settings, port),
        )  # fmt: skip
    assert code == 0, err
    assert inbox.received == [] and out == ""
    assert "sent 0 of 0 messages" in err


def test_nothing_goes_on_a_company_holiday(tmp_path: Path) -> None:
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        insert_calls(con, [miss("m1"), call("last", client="79000000099", started_at=T0 + DAY)])
        con.execute("insert into holidays values (date '2024-03-05', null, 'праздник')")
    warehouse.publish_read_copy(db)
    settings = support.settings_for(db, report_to=("ops@example.ru",))
    routing = weekly_email.Routing()
    tuesday = date(2024, 3, 5)
    messages, warnings = callback_digest.prepare(settings, routing, day=tuesday, dry_run=True)
    assert messages == [] and warnings == [
        "05.03.2024 is a company holiday (holidays): nothing sent"
    ]
    wednesday = date(2024, 3, 6)
    messages, _ = callback_digest.prepare(settings, routing, day=wednesday, dry_run=True)
    assert [m.key for m in messages] == ["roll-up"]  # the miss of Monday is lost


def test_a_long_list_is_cut_to_fit_a_phone_and_says_so(settings: Settings) -> None:
    with reports.open_read(settings) as con:
        digest = callback_digest.read_digest(con, DAY_OF, now=support.NOW)
    many = pl.concat([digest.rows] * 40)  # over a thousand rows
    composed = callback_digest.compose(
        callback_digest.Digest(**{**digest.__dict__, "rows": many}), None, cap=500
    )
    assert composed is not None
    message = weekly_email.to_message(composed, "r@example.ru", ["x@example.ru"])
    assert len(message.as_bytes()) < 100_000
    shown = len(listed(composed.html))
    assert 0 < shown < many.height
    assert f"Показаны первые {shown} из {many.height:,}".replace(",", "\u00a0") in composed.html


@pytest.mark.slow
def test_the_digest_flow_sends_and_fails_loudly_on_a_refused_message(
    prefect_harness: None, settings: Settings, routing: Path, tmp_path: Path
) -> None:
    from vats_etl.flows import runtime
    from vats_etl.flows.digest import callback_digest_flow

    with smtp_server(refuse={SUPPORT_HEAD}) as (inbox, port):
        smtp = smtp_settings(settings, port)
        with runtime.using(runtime.Runtime(smtp, clock=lambda: support.NOW)):
            dry = callback_digest_flow(routing=str(routing), dry_run_dir=str(tmp_path / "dry"))
            assert dry == f"dry run: 3 messages written to {tmp_path / 'dry'}"
            assert inbox.received == []
            with pytest.raises(errors.EmailError, match="sent 2 of 3 messages; NOT sent: "):
                callback_digest_flow(routing=str(routing))  # today: the clock's Monday
    subjects = [str(m["Subject"]) for _, _, m in inbox.received]
    assert len(subjects) == 2 and all("10.06.2024" in s for s in subjects)
