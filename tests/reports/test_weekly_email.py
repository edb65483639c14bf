"""The weekly missed-call email: routing, composing, and sending to a real SMTP server on
loopback (aiosmtpd) in the clear, with STARTTLS and login, and over implicit TLS; refused
connections, failed logins and refused recipients."""

from __future__ import annotations

import email
import logging
import re
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support import small_warehouse as small
from tests.support.processes import free_port
from tests.support.smtp import (
    PASSWORD,
    USER,
    Cert,
    parts,
    self_signed_cert,
    smtp_env,
    smtp_server,
    smtp_settings,
)
from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    T0,
    call,
    callback,
    fresh,
    insert_calls,
    insert_versions,
    miss,
)
from vats_etl import errors, reports, warehouse, weekly_email
from vats_etl.config import Secret, Settings
from vats_etl.reports import Period, Reader
from vats_etl.weekly_email import Outgoing, SmtpConfig

pytestmark = pytest.mark.timeout(180)

SALES_HEAD = "head.sales@example.ru"
XSS_HEAD = "xss.head@example.ru"
BOSS = "director@example.ru"


# -- a certificate for the SMTP server on loopback ---------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return self_signed_cert(tmp_path_factory.mktemp("cert"))


# -- a warehouse and the command -------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small.build(tmp_path_factory.mktemp("email"))


@pytest.fixture(scope="module")
def figures(settings: Settings) -> dict[str | None, tuple[int, int, int]]:
    """(missed, not called back, lost clients to call) of week 2024-W23 per department and
    in total: the first two in working hours (the subject's), the list in any hours."""
    with reports.open_read(settings) as con:
        reader = Reader(con, small.WEEK)
        departments = reader.meta().departments
        found = {}
        for department in (None, *departments):
            part = reader.for_department(department)
            kpis = part.kpis()[0]
            found[department] = (
                kpis["missed"],
                kpis["not_called_back"],
                part.action_list().height,
            )
    return found


@pytest.fixture(scope="module")
def busiest(figures: dict[str | None, tuple[int, int, int]]) -> str:
    """A real department with misses in the week (the emulator's names)."""
    return max((d for d in figures if d and d != small.XSS_DEPARTMENT), key=lambda d: figures[d])


@pytest.fixture
def routing(tmp_path: Path, busiest: str) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(
        f'rollup = ["{BOSS}"]\n\n[departments]\n"{busiest}" = ["{SALES_HEAD}"]\n'
        f'"{small.XSS_DEPARTMENT}" = "{XSS_HEAD}"\n',
        "utf-8",
    )
    return path


def send(env: dict[str, str | None], *args: str) -> tuple[int, str, str]:
    return small.cli(
        "--env-file", "/dev/null", "email-weekly", "--week", "2024-W23", *args, env=env
    )


# -- over SMTP -------------------------------------------------------------------------------------


def test_messages_arrive_with_recipients_figures_parts_and_attachments(
    settings: Settings,
    routing: Path,
    busiest: str,
    figures: dict[str | None, tuple[int, int, int]],
) -> None:
    with smtp_server() as (inbox, port):
        code, out, err = send(
            smtp_env(settings, port, "none"), "--routing", str(routing), "--cap", "3"
        )
    assert code == 0, err
    assert [line.split(" -> ")[0] for line in out.splitlines()] == [
        f"sent {busiest}",
        f"sent {small.XSS_DEPARTMENT}",
        "sent roll-up",
    ]
    assert "sent 3 of 3 messages for 2024-W23" in err
    by_to = {tuple(rcpt): (sender, msg) for sender, rcpt, msg in inbox.received}
    assert set(by_to) == {(SALES_HEAD,), (XSS_HEAD,), ("ops@example.ru", BOSS)}
    for recipients, department in (
        ((SALES_HEAD,), busiest),
        ((XSS_HEAD,), small.XSS_DEPARTMENT),
        (("ops@example.ru", BOSS), None),
    ):
        sender, message = by_to[recipients]
        assert sender == "reports@example.ru"
        missed, not_called_back, to_call = figures[department]
        who = department or "все отделы"
        assert message["Subject"] == (
            f"Пропущенные звонки · {who} · 2024-W23: "
            f"пропущено звонков {missed}, не перезвонили {not_called_back}; "
            f"позвонить клиентам: {to_call}"
        )
        assert message["To"] == ", ".join(recipients)
        assert message.get_content_type() == "multipart/mixed"
        assert len(message.as_bytes()) < 300_000  # light: no dashboard attached
        plain, html, attachments = parts(message)
        assert f"КОМУ ПОЗВОНИТЬ — клиентов: {to_call}" in plain
        assert f"Кому позвонить — клиентов: {to_call}</h2>" in html
        for part in message.walk():  # no script in any part a mail client renders
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            if part.get_content_type() == "text/csv":
                continue  # a CSV is data: PBX text stays as delivered (checked below)
            assert b"<script" not in payload.lower(), part.get_filename()
            assert b"javascript:" not in payload.lower(), part.get_filename()
        assert "<style" not in html and 'style="' in html  # inline CSS only
        assert "неделя 2024-W23 (3–9 июня 2024)" in html and "Данные по 09.06.2024" in html
        assert "Как считаем." in html and "Как считаем." in plain
        assert "Все звонки периода" in html  # after hours and without a department: own table
        for hostile in (small.XSS_NAME, small.XSS_DEPARTMENT, small.XSS_NUMBER):
            assert hostile not in html  # escaped, never raw
        tag = "2024-W23" + reports_suffix(department)
        assert [n for n in attachments if n.endswith(".html")] == []
        if to_call:  # the whole list of lost clients goes along as CSV
            csv_text = attachments[f"lost-clients-{tag}.csv"].decode("utf-8-sig")
            assert csv_text.startswith("Приоритет;Клиент;")
            assert len(csv_text.splitlines()) == to_call + 1
            assert 'href="tel:+7' in html  # whom to call: one tap on a phone
        if to_call > 3:  # capped in the body
            assert "весь список — во вложении" in html
    _, xss_message = by_to[(XSS_HEAD,)]
    plain, html, attachments = parts(xss_message)
    assert "Отдел &lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;b onmouseover=alert(3)&gt;74950000000&lt;/b&gt;" in html  # by number dialled
    # the miss nobody called back, at its local time (Wednesday 13:00 in Moscow)
    assert (
        '<b><a href="tel:+79990008888" style="color:#0b5cad;white-space:nowrap;">79990008888</a>'
        "</b>" in html
    )
    assert '<span style="white-space:nowrap;">05.06.2024 13:00</span> · номер' in html
    assert "1. 79990008888; окно закончилось 06.06.2024 13:00" in plain
    # PBX text in the plain part carries no markup either: its angle brackets read ‹ ›
    assert "   - 05.06.2024 13:00, номер ‹b onmouseover=alert(3)›74950000000‹/b›, " in plain
    assert "Кто не взял трубку, видно только по событиям звонков" in html  # no event webhooks
    assert list(attachments) == ["lost-clients-2024-W23-отдел-img-src-x-onerror-alert-2.csv"]
    # the CSV is data for a spreadsheet: names as the PBX delivered them, not HTML-escaped
    csv_text = attachments["lost-clients-2024-W23-отдел-img-src-x-onerror-alert-2.csv"].decode(
        "utf-8-sig"
    )
    owned = next(line for line in csv_text.splitlines() if ";79990007777;" in line)
    assert f";{small.XSS_DEPARTMENT};{small.XSS_NAME};" in owned
    assert "&lt;" not in csv_text


def reports_suffix(department: str | None) -> str:
    from vats_etl import dashboards

    return dashboards.suffix(department)


def test_starttls_and_login(settings: Settings, routing: Path, cert: Cert) -> None:
    with smtp_server(mode="starttls", cert=cert) as (inbox, port):
        env = smtp_env(
            settings, port, "starttls", SMTP_USER=USER, SMTP_PASSWORD=PASSWORD,
            SMTP_CA_FILE=str(cert.cert),
        )  # fmt: skip
        code, _, err = send(env, "--routing", str(routing))
    assert code == 0, err
    assert len(inbox.received) == 3 and inbox.logins == ["PLAIN:ok"]


def test_failed_login_is_one_line_and_never_shows_the_password(
    settings: Settings, routing: Path, cert: Cert, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(mode="starttls", cert=cert) as (inbox, port):
        env = smtp_env(
            settings, port, "starttls", SMTP_USER=USER, SMTP_PASSWORD="wrong-" + PASSWORD,
            SMTP_CA_FILE=str(cert.cert),
        )  # fmt: skip
        code, out, err = send(env, "--routing", str(routing))
    assert code == 1 and out == ""
    *warnings, last = err.splitlines()
    assert last.startswith(
        f"error: SMTP login as {USER} at 127.0.0.1:{port} (starttls) failed: 535"
    )
    assert all(w.startswith("warning: no recipients") for w in warnings)
    assert inbox.received == []
    for text in (out, err, caplog.text):
        assert PASSWORD not in text
    config = SmtpConfig("h", 25, user=USER, password=Secret(PASSWORD))
    assert PASSWORD not in repr(config) and PASSWORD not in str(config)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(settings: Settings, routing: Path, cert: Cert) -> None:
    with smtp_server(mode="ssl", cert=cert) as (inbox, port):
        env = smtp_env(settings, port, "ssl", SMTP_USER=USER, SMTP_PASSWORD=PASSWORD)
        code, _, err = send(env, "--routing", str(routing), "--cafile", str(cert.cert))
        assert code == 0, err
        assert len(inbox.received) == 3
        code, _, err = send(env, "--routing", str(routing))  # the certificate is not trusted
    assert code == 1
    assert err.splitlines()[-1].startswith(f"error: TLS with SMTP 127.0.0.1:{port} (ssl) failed")
    assert "CERTIFICATE_VERIFY_FAILED" in err and len(inbox.received) == 3


def test_refused_connection(settings: Settings, routing: Path) -> None:
    port = free_port()  # nothing listens there
    code, out, err = send(smtp_env(settings, port, "none"), "--routing", str(routing))
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == (
        f"error: cannot connect to SMTP 127.0.0.1:{port} (none): Connection refused"
    )


def test_a_partly_sent_batch_names_what_went_and_what_did_not(
    settings: Settings, routing: Path, busiest: str
) -> None:
    with smtp_server(refuse={XSS_HEAD}) as (inbox, port):
        code, out, err = send(smtp_env(settings, port, "none"), "--routing", str(routing))
    assert code == 1
    assert f"NOT sent {small.XSS_DEPARTMENT} -> {XSS_HEAD}: every recipient refused" in out
    assert [rcpt for _, rcpt, _ in inbox.received] == [[SALES_HEAD], ["ops@example.ru", BOSS]]
    last = err.splitlines()[-1]
    assert last.startswith("error: sent 2 of 3 messages; NOT sent: ")
    assert last.endswith(f"sent: {busiest}, roll-up")
    # resend only what did not go
    with smtp_server() as (inbox, port):
        env = smtp_env(settings, port, "none")
        code, out, err = send(env, "--routing", str(routing), "--only", small.XSS_DEPARTMENT)
        assert code == 0, err
        assert [rcpt for _, rcpt, _ in inbox.received] == [[XSS_HEAD]]
        code, _, err = send(env, "--routing", str(routing), "--only", "Склад")
    assert code == 2 and "no message Склад; messages: " in err and len(inbox.received) == 1


def test_a_week_without_misses_still_sends(tmp_path: Path) -> None:
    db = tmp_path / "calm.duckdb"
    calm = [call(f"ok{i}", started_at=T0 + i * HOUR, client=f"7900111{i:04d}") for i in range(5)]
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        from tests.support.warehouse_rows import insert_calls

        insert_calls(con, calm)
    warehouse.publish_read_copy(db)
    settings = small.settings_for(db)
    with smtp_server() as (inbox, port):
        env = smtp_env(settings, port, "none")
        code, _, err = small.cli(
            "--env-file", "/dev/null", "email-weekly", "--week", "2024-W10", env=env
        )
    assert code == 0, err
    [(_, rcpt, message)] = inbox.received
    assert rcpt == ["ops@example.ru"]
    assert message["Subject"].endswith(
        "2024-W10: пропущено звонков 0, не перезвонили 0; позвонить клиентам: 0"
    )
    plain, html, attachments = parts(message)
    assert "пропущенных звонков не было" in html and "пропущенных звонков не было" in plain
    assert attachments == {}  # nobody to call: no list to attach


def test_a_hostile_employee_name_in_the_employee_table_is_escaped() -> None:
    """An employee named `<script>alert(1)</script>` (from the directory) called a client
    back this week: the department's message lists them in its employee table, escaped."""
    con = fresh()
    insert_versions(
        con,
        "users_history",
        [{"user_login": "xss", "user_name": small.XSS_NAME, "valid_from": T0 - 7 * DAY}],
    )
    insert_calls(
        con,
        [
            miss("m1", client="79001112233", group_name="Продажи"),
            callback("cb1", client="79001112233", user_login="xss", started_at=T0 + HOUR),
        ],
    )
    part = Reader(con, Period.week("2024-W10")).for_department("Продажи")
    composed = weekly_email.compose(
        part.overview(), part.missed(weekly_email.LATE_AFTER_S), part.breakdown("department")
    )
    table = composed.html.split(">Сотрудники</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.sub(r' style="[^"]*"', "", table)  # inline CSS aside
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert (
        f'<tr data-login="xss"><td><b>{escaped}</b><br><span>ответил 0 · перезвонил в окне 1 '
        "(медиана <span>1\u00a0ч</span>)</span></td></tr>" in rows
    )  # one callback in time, an hour after the miss
    assert small.XSS_NAME not in composed.html and "<script" not in composed.html.lower()


def test_dry_run_writes_messages_without_smtp(
    settings: Settings, routing: Path, tmp_path: Path
) -> None:
    env = smtp_env(settings, 0, "none", SMTP_HOST=None, REPORT_FROM=None, REPORT_TO=None)
    code, out, err = send(env, "--routing", str(routing), "--dry-run", "--out", str(tmp_path))
    assert code == 0, err
    files = [Path(line) for line in out.splitlines()]
    assert [f.name for f in files][-1] == "03-roll-up.eml" and len(files) == 3
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["From"] == "vats-etl <vats-etl@localhost>"
    assert (tmp_path / "03-roll-up.html").read_text().startswith("<!doctype html>")


def test_the_email_links_to_the_hosted_dashboards_when_their_address_is_set(
    settings: Settings, routing: Path, tmp_path: Path
) -> None:
    env = smtp_env(settings, 0, "none", SMTP_HOST=None, REPORT_FROM=None, REPORT_TO=None)
    code, _, err = send(env, "--routing", str(routing), "--dry-run", "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert "Отчёт с графиками" not in (tmp_path / "a" / "03-roll-up.html").read_text()

    env["VATS_DASHBOARD_URL"] = "https://calls.example.ru/dash/"
    code, _, err = send(env, "--routing", str(routing), "--dry-run", "--out", str(tmp_path / "b"))
    assert code == 0, err
    for name in ("01-", "02-", "03-roll-up"):  # the page `daily` keeps current
        [page] = [p for p in (tmp_path / "b").glob(f"{name}*.html")]
        assert '<a href="https://calls.example.ru/dash/missed-calls.html"' in page.read_text()
    message = email.message_from_bytes(
        (tmp_path / "b" / "03-roll-up.eml").read_bytes(), policy=email.policy.default
    )
    plain, _, _ = parts(message)  # type: ignore[arg-type]
    assert "https://calls.example.ru/dash/missed-calls.html" in plain
    env["VATS_DASHBOARD_URL"] = "javascript:alert(5)"
    code, _, err = send(env, "--routing", str(routing), "--dry-run", "--out", str(tmp_path / "c"))
    assert code == 1 and "VATS_DASHBOARD_URL must be an http(s):// address" in err


def test_missing_settings_are_clear(settings: Settings, routing: Path) -> None:
    code, _, err = send(smtp_env(settings, 25, "none", SMTP_HOST=None), "--routing", str(routing))
    assert (code, err) == (1, "error: SMTP_HOST is not set\n")
    code, _, err = send(smtp_env(settings, 25, "none", REPORT_TO=None), "--week", "2024-W23")
    assert code == 1 and "REPORT_TO is not set" in err
    code, _, err = send(smtp_env(settings, 25, "none", REPORT_FROM=None), "--routing", str(routing))
    assert code == 1 and "REPORT_FROM is not set" in err


# -- pure parts ------------------------------------------------------------------------------


def test_routing_file_format() -> None:
    routing = weekly_email.parse_routing(
        'rollup = "boss@example.ru"\n[departments]\n"Отдел продаж" = ["a@example.ru", '
        '"Иван Петров <b@example.ru>"]\n"Склад" = "c@example.ru"\n'
    )
    assert routing.rollup == ("boss@example.ru",)
    assert routing.departments == {
        "Отдел продаж": ("a@example.ru", "b@example.ru"),
        "Склад": ("c@example.ru",),
    }
    for bad, message in (
        ('[departments]\n"A" = ["not an address"]', "not an e-mail address"),
        ('[departments]\n"A" = 5', "expected an address"),
        ("recipients = []", "unknown keys recipients"),
        ("[departments", "not valid TOML"),
    ):
        with pytest.raises(errors.ConfigError, match=message):
            weekly_email.parse_routing(bad)
    assert weekly_email.load_routing(None) == weekly_email.Routing()
    with pytest.raises(errors.ConfigError, match="cannot read routing file"):
        weekly_email.load_routing(Path("/nonexistent/routing.toml"))


def test_heat_cells() -> None:
    import polars as pl

    heat = (
        pl.DataFrame(
            {
                "weekday": [d for d in range(1, 8) for _ in range(24)],
                "local_hour": list(range(24)) * 7,
            }
        )
        .with_columns(
            offered=pl.when((pl.col("local_hour") == 10) | (pl.col("local_hour") == 12))
            .then(10)
            .otherwise(0),
            answerable=pl.when((pl.col("local_hour") == 10) | (pl.col("local_hour") == 12))
            .then(10)
            .otherwise(0),
            missed=pl.when((pl.col("weekday") == 1) & (pl.col("local_hour") == 10))
            .then(5)
            .otherwise(0),
        )
        .with_columns(
            missed_rate=pl.when(pl.col("answerable") > 0).then(
                pl.col("missed") / pl.col("answerable")
            )
        )
    )
    table = weekly_email.heat_table(heat)
    assert table["hours"] == [10, 11, 12]  # first to last busy hour
    monday = table["rows"][0]["cells"]
    assert monday[0].text == "5" and monday[0].background == "#a50f15"  # 50 %: darkest
    assert monday[1].text == "" and monday[1].background == "#eef1f4"  # no calls: grey
    assert monday[2].text == "0" and monday[2].background == "#fff5f0"  # calls, no misses
    assert [c.title for c in table["worst"]] == ["Пн 10:00 — пропущено 5 из 10 (50,0\u00a0%)"]


class FakeSmtp:
    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.sent: list[str] = []

    def send_message(self, message: EmailMessage, to_addrs: list[str]) -> dict[str, Any]:
        action = self.script.pop(0) if self.script else "ok"
        if action == "drop":
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.sent.append(str(message["Subject"]))
        return {}

    def quit(self) -> None:
        pass


def _outgoing(key: str) -> Outgoing:
    message = EmailMessage()
    message["Subject"] = key
    return Outgoing(key, key, (f"{key}@example.ru",), message, 0, 0)


def test_a_dropped_connection_is_reopened_once_and_nothing_is_lost_silently() -> None:
    config = SmtpConfig("127.0.0.1", 25, security="none")
    connections = [FakeSmtp(["ok", "drop"]), FakeSmtp([])]
    result = weekly_email.send(
        [_outgoing(k) for k in ("a", "b", "c")],
        config,
        connect=lambda _: connections.pop(0),  # type: ignore[arg-type,return-value]
    )
    assert result.ok and result.sent == ["a", "b", "c"]

    def refuse_second(_: SmtpConfig) -> Any:
        if not first:
            raise errors.EmailError(
                "cannot connect to SMTP 127.0.0.1:25 (none): Connection refused"
            )
        return first.pop(0)

    first = [FakeSmtp(["ok", "drop"])]
    result = weekly_email.send(
        [_outgoing(k) for k in ("a", "b", "c")], config, connect=refuse_second
    )
    assert result.sent == ["a"]
    assert [k for k, _ in result.failed] == ["b", "c"]
    assert "sent 1 of 3 messages; NOT sent: b (cannot connect" in result.summary()


def test_period_default_is_last_week() -> None:
    assert Period.week("2024-W23") == small.WEEK


@pytest.mark.slow
def test_weekly_flow_sends_and_fails_loudly_on_a_refused_message(
    prefect_harness: None, settings: Settings, routing: Path, tmp_path: Path
) -> None:
    from vats_etl.flows import runtime
    from vats_etl.flows.weekly import weekly_email_flow

    with smtp_server(refuse={XSS_HEAD}) as (inbox, port):
        smtp = smtp_settings(settings, port)
        with runtime.using(runtime.Runtime(smtp, clock=lambda: small.NOW)):
            dry = weekly_email_flow(routing=str(routing), dry_run_dir=str(tmp_path / "dry"))
            assert dry == f"dry run: 3 messages written to {tmp_path / 'dry'}"
            assert inbox.received == []
            with pytest.raises(errors.EmailError, match="sent 2 of 3 messages; NOT sent: "):
                weekly_email_flow(routing=str(routing))  # default week: the one before NOW
    subjects = [str(m["Subject"]) for _, _, m in inbox.received]
    assert len(subjects) == 2 and all("2024-W23" in s for s in subjects)
