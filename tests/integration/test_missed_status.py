"""The PBX's own verdict (missedStatus) end to end: the emulator over a real socket speaks it
in the platform's dialect, the pipeline stores it as delivered, and pbx_missed_verdicts
puts it next to ours — which agree on every call the emulator serves, as long as the days
loaded reach up to its clock (its verdicts are as of then)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulated import (
    FIRST,
    LAST,
    clock,
    company,
    load,
    make_settings,
    query,
    served,
    span,
)
from vats_etl.emulator import Emulator
from vats_etl.periods import local_date

# the emulator over sockets, whole loads, Prefect: the full suite's, not the fast lane's
pytestmark = pytest.mark.slow

TODAY = local_date(clock(), company().zone)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Emulator, Path]:
    """A platform account loaded from FIRST through today (the emulator's clock)."""
    emu = company("platform")
    tmp = tmp_path_factory.mktemp("missed-status")
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp)
        assert load(settings, FIRST, TODAY).status == "ok"
    return emu, settings.db_path


def test_calls_keep_the_verdict_as_the_pbx_delivered_it(loaded):
    emu, db = loaded
    truth = {r["uid"]: r["pbx_missed_status"] for r in emu.external_calls(span(FIRST, TODAY))}
    stored = dict(query(db, "select uid, pbx_missed_status from calls"))
    assert stored == truth
    assert {v for v in stored.values() if v is not None} == {1, 2, 3}


def test_our_outcome_and_the_pbx_verdict_agree_on_every_miss_and_call_back(loaded):
    _, db = loaded
    verdicts = query(
        db,
        "select subject, pbx_verdict, count(*), count(*) filter (where not agrees) "
        "from pbx_missed_verdicts group by all order by all",
    )
    counts = {(subject, verdict): (n, wrong) for subject, verdict, n, wrong in verdicts}
    assert set(counts) == {
        ("miss", "open"),
        ("miss", "closed"),
        ("outgoing", "call_back"),
        ("outgoing", "not_call_back"),
    }
    assert all(n > 10 and wrong == 0 for n, wrong in counts.values()), counts
    # the PBX's "open" is our pending or lost; its "closed" our recovered or recovered_late
    assert query(
        db,
        "select pbx_verdict, list(distinct outcome order by outcome) from pbx_missed_verdicts "
        "where subject = 'miss' group by all order by all",
    ) == [("closed", ["recovered", "recovered_late"]), ("open", ["lost", "pending"])]
    assert query(db, "select count(*) from data_quality where issue = 'pbx_disagrees'") == [(0,)]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_spec_letter_and_csv_carry_no_verdict(fmt, tmp_path):
    emu = company("spec") if fmt == "json" else company("platform")
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp_path)
        assert load(settings, LAST, LAST, fmts=(fmt,)).status == "ok"
    db = settings.db_path
    assert query(db, "select count(pbx_missed_status) from calls") == [(0,)]
    assert query(db, "select count(*) from pbx_missed_verdicts") == [(0,)]
