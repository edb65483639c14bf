"""An account without a history format (the emulator answering 501 Not Implemented on it,
over a real socket): the load switches to the other format, says so once, records it, and
the next runs plan the other format straight away. And a disabled domain is its own error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulated import (
    API_KEY,
    FIRST,
    LAST,
    clock,
    company,
    environment,
    load,
    make_settings,
    query,
    served,
    span,
)
from tests.support.processes import vats
from vats_etl import errors, pipeline, warehouse
from vats_etl.client import PbxClient
from vats_etl.config import Secret, Settings

# the emulator over sockets, whole loads, Prefect: the full suite's, not the fast lane's
pytestmark = pytest.mark.slow


def plan_remembered(settings: Settings) -> list[pipeline.LoadChunk]:
    with warehouse.connect(settings.db_path, company=warehouse.Company("Europe/Moscow")) as con:
        lacking = warehouse.format_fallbacks(con)
    return pipeline.plan(FIRST, LAST, settings.zone, lacking=lacking)


def test_json_answering_501_switches_the_account_to_csv(tmp_path: Path) -> None:
    emu = company("platform", not_implemented=("history/json",))
    truth = {r["uid"] for r in emu.external_calls(span(FIRST, LAST))}
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp_path)
        summary = load(settings)
        assert summary.status == "ok" and not summary.failures
        json_refused = srv.stats.statuses.get(501, 0)
        # said once, naming the endpoint, the answer and what is loaded instead
        assert summary.warnings == [
            "history/json is not offered by this account (501 Not Implemented): external "
            "history is loaded as csv from now on"
        ]
        assert 1 <= json_refused <= 4  # the chunks in flight when it was found out
        assert summary.totals["external"].rows_loaded == len(truth)
        db = settings.db_path
        assert set(dict(query(db, "select uid, source from calls"))) == truth
        assert query(db, "select distinct source from calls") == [("api_csv",)]
        # internal history is another endpoint: still JSON
        assert query(
            db, "select kind, format, count(*) from load_runs where status = 'ok' group by all "
            "order by all"
        ) == [("external", "csv", 5), ("internal", "json", 5)]  # fmt: skip
        skipped = query(db, "select kind, format, error from load_runs where status = 'skipped'")
        assert len(skipped) == json_refused
        assert all(k == "external" and f == "json" and "501" in e for k, f, e in skipped)
        assert query(db, "select kind, format, fallback from history_format_fallbacks") == [
            ("external", "json", "csv")
        ]
        assert query(
            db,
            "select kind, source, detail, sum(rows) from data_quality "
            "where issue = 'format_fallback' group by all",
        ) == [("external", "api_json", "json → csv", json_refused)]

        # the next run plans CSV for external history at once: no 501, nothing said again
        chunks = plan_remembered(settings)
        assert {(c.kind, c.fmt) for c in chunks} == {("external", "csv"), ("internal", "json")}
        with PbxClient(settings.base_url or "", settings.api_key) as client:  # type: ignore[arg-type]
            again = pipeline.run(settings, chunks, client=client, now=clock)
        assert again.status == "ok" and again.warnings == []
        assert srv.stats.statuses.get(501, 0) == json_refused


def test_csv_asked_of_an_account_without_it_loads_json(tmp_path: Path) -> None:
    emu = company("platform", not_implemented=("history/csv",))
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp_path)
        summary = load(settings, LAST, LAST, fmts=("csv",))
    assert summary.status == "ok"
    assert summary.warnings == [
        "history/csv is not offered by this account (501 Not Implemented): external history "
        "is loaded as json from now on"
    ]
    assert query(settings.db_path, "select distinct source from calls") == [("api_json",)]


def test_an_account_with_neither_format_fails_its_chunks_and_learns_nothing(
    tmp_path: Path,
) -> None:
    emu = company("platform", not_implemented=("history/json", "history/csv"))
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp_path)
        summary = load(settings, LAST, LAST)
    assert summary.status == "failed" and summary.warnings == []
    (chunk, error), *_ = summary.failures
    assert chunk.startswith("external/json") and "501" in error and "as csv" in error
    assert query(settings.db_path, "select count(*) from history_format_fallbacks") == [(0,)]


@pytest.mark.parametrize("call", ["check", "history"])
def test_a_disabled_domain_is_not_a_rejected_key(call: str) -> None:
    emu = company("platform")
    with served(emu) as srv:
        srv.crm_state = "domain_disabled"
        with (
            PbxClient(srv.base_url, Secret(API_KEY)) as client,
            pytest.raises(errors.DomainDisabled) as info,
        ):
            if call == "check":
                client.check()
            else:
                client.history_once("external", "json", span(LAST, LAST))
    message = str(info.value)
    assert "Domain disabled" in message and "Invalid token" not in message
    assert not isinstance(info.value, errors.AuthError)  # the key is not what is wrong
    assert "\n" not in message


def test_the_command_says_so_once_and_a_disabled_domain_in_one_line(
    tmp_path: Path, prefect_api_url: str
) -> None:
    emu = company("platform", not_implemented=("history/json",))
    with served(emu) as srv:
        env = environment(tmp_path, srv.base_url, prefect_api_url)
        days = ("--from", str(LAST), "--to", str(LAST))
        first = vats("backfill", *days, env=env)
        assert first.returncode == 0, first.stderr
        said = [line for line in first.stderr.splitlines() if "history/json" in line]
        assert said == [
            "warning: history/json is not offered by this account (501 Not Implemented): "
            "external history is loaded as csv from now on"
        ]
        again = vats("backfill", *days, "--force", env=env)
        assert again.returncode == 0 and "history/json" not in again.stderr
        srv.crm_state = "domain_disabled"
        for args in (("check",), ("backfill", *days)):
            result = vats(*args, env=env)
            assert result.returncode == 1
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
            assert "401 Domain disabled" in result.stderr
            assert "Invalid token" not in result.stderr and "VATS_API_KEY" not in result.stderr
