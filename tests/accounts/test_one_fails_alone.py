"""A failing account fails alone, always: whatever is raised for one account — not only the
expected errors — is that account's result in `accounts`, one line naming it elsewhere;
the others are checked and listed; values the PBX sends are read defensively."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.accounts.support import API_KEY
from tests.cli.support import vats, write_accounts
from vats_etl import errors
from vats_etl.accounts import CheckResult, check_all, parse_accounts
from vats_etl.config import load_settings

KEY = "acme-key-must-not-leak-0123456789"


@pytest.fixture
def odd_pbx() -> Iterator[str]:
    """A PBX that answers every request 200 with ``{"items": [], "info": {"total": "lots"}}``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"items": [], "info": {"total": "lots"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/crmapi/v1"
    server.shutdown()
    server.server_close()


def table_rows(stdout: str) -> dict[str, str]:
    """Each account's row of the table, its wrapped cells' lines joined."""
    rows: dict[str, str] = {}
    account = ""
    for line in stdout.splitlines():
        if not line.startswith("│ "):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        account = cells[0] or account
        rows[account] = " ".join([rows.get(account, ""), *cells]).strip()
    return rows


def test_accounts_lists_every_account_when_one_pbx_answers_oddly_and_one_key_is_bad(
    odd_pbx, pbx, tmp_path
) -> None:
    path = write_accounts(tmp_path, {"odd": odd_pbx, "bad": pbx.base_url, "good": pbx.base_url})

    env = {
        "VATS_ACCOUNTS": str(path),
        "ODD_KEY": "odd-key",
        "BAD_KEY": "bad-ключ-\r\n0123",
        "GOOD_KEY": API_KEY,
    }
    ran = vats("accounts", env=env)
    assert ran.code == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    rows = table_rows(ran.stdout)
    assert set(rows) == {"odd", "bad", "good"}
    assert " ok " in rows["odd"] and "answers" in rows["odd"]  # a key that works, no count
    assert " error " in rows["bad"] and "BAD_KEY holds a character" in rows["bad"]
    assert " ok " in rows["good"] and " users" in rows["good"]
    assert "ключ" not in ran.stdout + ran.stderr
    assert "2 ok, 1 error" in ran.stdout
    checked = vats("--account", "odd", "check", env=env)
    assert (checked.code, checked.stdout) == (0, f"ok: {odd_pbx} answers\n")


def test_all_accounts_check_goes_on_after_a_key_that_cannot_be_sent(pbx, tmp_path) -> None:
    path = write_accounts(tmp_path, {"a": pbx.base_url, "b": pbx.base_url})
    ran = vats(
        "--all-accounts",
        "check",
        env={"VATS_ACCOUNTS": str(path), "A_KEY": "x\ny", "B_KEY": API_KEY},
    )
    assert ran.code == 1
    assert ran.error_lines() == [
        "error: account a: A_KEY holds a character an HTTP header cannot carry (a line break, "
        "a control character or a non-ASCII letter): check its value"
    ]
    assert ran.stderr.splitlines()[-1] == "accounts: a failed, b ok"
    assert "x\ny" not in ran.stderr + ran.stdout


GOOD = """
[accounts.acme]
base_url = "acme.megapbx.ru"
key_env = "ACME_KEY"
tz = "Asia/Yekaterinburg"
crm_token_env = "ACME_CRM"

[accounts.beta]
base_url = "beta.megapbx.ru"
key_env = "BETA_KEY"
tz = "Europe/Moscow"
"""


@pytest.mark.parametrize(
    ("raised", "status", "detail"),
    [
        (ValueError(f"refused {KEY} here"), "error", "ValueError: refused ******** here"),
        (
            UnicodeEncodeError("latin-1", f"{KEY}ключ", 33, 34, "ordinal not in range(256)"),
            "error",
            "UnicodeEncodeError: a character latin-1 cannot encode (ordinal not in range(256))",
        ),
        (KeyError("total"), "error", "KeyError: 'total'"),
        (errors.GaveUp("GET users: gave up"), "unreachable", "GET users: gave up"),
    ],
    ids=["ValueError", "UnicodeEncodeError", "KeyError", "GaveUp"],
)
def test_whatever_a_check_raises_is_its_accounts_result(raised, status, detail, tmp_path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    base = load_settings(environ={}, env_file=None)
    environ = {"ACME_KEY": KEY, "BETA_KEY": "beta-key"}
    settings = [accounts.settings(n, base, environ) for n in ("acme", "beta")]

    def check(s):
        if s.account == "acme":
            raise raised
        return None

    results = check_all(settings, check)
    assert results == [CheckResult("acme", status, detail), CheckResult("beta", "ok", "answers")]


def test_a_key_with_a_line_break_is_refused_naming_its_variable(pbx) -> None:
    requests = pbx.stats.requests
    ran = vats("check", env={"VATS_BASE_URL": pbx.base_url, "VATS_API_KEY": "abc\r\nX-Evil: 1"})
    assert ran.code == 1
    assert ran.error_lines() == [
        "error: VATS_API_KEY holds a character an HTTP header cannot carry (a line break, a "
        "control character or a non-ASCII letter): check its value"
    ]
    assert "X-Evil" not in ran.stderr + ran.stdout and pbx.stats.requests == requests


@pytest.mark.slow
def test_all_accounts_backfill_loads_the_others_after_a_key_that_cannot_be_sent(
    pbx, tmp_path, prefect_harness
) -> None:
    import duckdb
    from prefect.settings import PREFECT_API_URL

    path = write_accounts(tmp_path, {"bad": pbx.base_url, "good": pbx.base_url})
    env = {
        "VATS_ACCOUNTS": str(path),
        "BAD_KEY": "bad-ключ-0123",
        "GOOD_KEY": API_KEY,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    ran = vats("--all-accounts", "backfill", "--from", "2024-06-03", "--to", "2024-06-03", env=env)
    assert ran.code == 1, ran.stderr
    assert ran.error_lines() == [
        "error: account bad: BAD_KEY holds a character an HTTP header cannot carry (a line "
        "break, a control character or a non-ASCII letter): check its value"
    ]
    assert ran.stderr.splitlines()[-1] == "accounts: bad failed, good ok"
    good = tmp_path / "data" / "accounts" / "good" / "vats.duckdb"
    with duckdb.connect(str(good), read_only=True) as con:
        assert con.execute("select count(*) > 0 from calls").fetchall() == [(True,)]
    assert not (tmp_path / "data" / "accounts" / "bad" / "vats.duckdb").exists()
