"""The synthetic company: plausible, deterministic, and changing over time as a pure function."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.emulator.support import NOW, day, fixed_clock
from vats_etl.emulator import Emulator
from vats_etl.emulator.directory import EPOCH, Timeline
from vats_etl.emulator.names import full_name, patronymic, translit

CYRILLIC_FIO = re.compile(r"^[А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+(вич|вна)$")


def test_russian_full_names_agree_in_gender() -> None:
    assert full_name("Иванов", "Анна", "Сергей", female=True) == "Иванова Анна Сергеевна"
    assert full_name("Вишневский", "Юрий", "Юрий", female=False) == "Вишневский Юрий Юрьевич"
    assert patronymic("Пётр", female=False) == "Петрович"
    assert patronymic("Дмитрий", female=True) == "Дмитриевна"
    assert translit("Фёдоров") == "fedorov"


def test_company_looks_like_a_real_pbx_account(emu: Emulator) -> None:
    directory = emu.directory(NOW)
    users = directory.users
    assert 38 <= len(users) <= 44
    assert all(CYRILLIC_FIO.match(u.name) for u in users), [u.name for u in users][:5]
    assert all(re.fullmatch(r"7\d\d", u.ext) for u in users)
    logins = [u.login for u in users]
    assert len(set(logins)) == len(logins)
    assert any(re.fullmatch(r"u7\d\d", x) for x in logins)
    assert any(re.fullmatch(r"[a-z]+(\.[a-z])?", x) and x not in ("admin",) for x in logins)
    assert {"admin", "user"} <= {u.role for u in users}
    assert directory.user("admin") is not None
    ids = [g.id for g in directory.groups]
    assert ids[:2] == ["sales", "support"]
    assert all(re.fullmatch(r"g_[0-9a-f-]{36}", g) for g in ids[2:])
    assert all(g.call_order in {"ALL", "EVENLY", "BYORDER", "WATERFALL"} for g in directory.groups)
    assert sum(t.is_main_phone for t in directory.telnums) == 1
    assert {t.type for t in directory.telnums} >= {"ivr", "group"}
    assert directory.sims and directory.blacklist


def test_large_companies_get_four_digit_extensions() -> None:
    big = Emulator(seed=3, agents=400, clock=fixed_clock).directory(NOW)
    assert all(re.fullmatch(r"\d{4}", u.ext) for u in big.users)


def test_lookup_by_login_or_ext(emu: Emulator) -> None:
    directory = emu.directory(NOW)
    someone = directory.users[5]
    assert directory.user(someone.login) == directory.user(someone.ext) == someone
    assert directory.user("nobody") is None


def test_directory_is_a_pure_function_of_seed_and_date() -> None:
    dates = [date(2024, 5, 29), date(2021, 3, 2), date(2024, 5, 30)]
    first = Timeline(5, 50)
    forward = [first.directory(d) for d in dates]
    second = Timeline(5, 50)
    backward = [second.directory(d) for d in reversed(dates)][::-1]
    assert forward == backward
    assert Timeline(6, 50).directory(dates[0]) != forward[0]


def test_dates_before_founding_see_the_founding_state() -> None:
    timeline = Timeline(5, 50)
    long_ago = timeline.directory(EPOCH - timedelta(days=400))
    assert long_ago.users == timeline.directory(EPOCH - timedelta(days=1)).users
    assert long_ago.users != timeline.directory(EPOCH + timedelta(days=365)).users


def _weekly_diffs(emu: Emulator, weeks: int) -> dict[str, int]:
    changes = {"moved": 0, "left": 0, "hired": 0, "renamed": 0, "position": 0, "rerouted": 0}
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    for w in range(weeks):
        before = emu.directory(start + timedelta(weeks=w))
        after = emu.directory(start + timedelta(weeks=w + 1))
        old = {u.login: u for u in before.users}
        new = {u.login: u for u in after.users}
        changes["left"] += len(old.keys() - new.keys())
        changes["hired"] += len(new.keys() - old.keys())
        for login in old.keys() & new.keys():
            a, b = old[login], new[login]
            changes["moved"] += a.group_id != b.group_id
            changes["renamed"] += a.name != b.name
            changes["position"] += a.position != b.position
        routes = {t.telnum: t.groups for t in before.telnums}
        changes["rerouted"] += sum(
            t.telnum in routes and routes[t.telnum] != t.groups for t in after.telnums
        )
    return changes


def test_directory_changes_every_week_in_realistic_ways() -> None:
    emu = Emulator(seed=21, agents=200, clock=fixed_clock)
    changes = _weekly_diffs(emu, 26)
    assert changes["moved"] >= 26  # a few moves every week
    assert changes["left"] >= 5 and changes["hired"] >= 5
    assert changes["renamed"] >= 1
    assert changes["position"] >= 3
    assert changes["rerouted"] >= 1
    headcount = len(emu.directory(NOW).users)
    assert 190 <= headcount <= 210  # hires replace leavers


def test_leavers_disappear_and_their_calls_keep_the_old_name() -> None:
    """History of day D carries names as of D, even for people gone since."""
    big = Emulator(seed=21, agents=200, profile="clean", clock=fixed_clock)
    d1, d2 = date(2024, 2, 5), date(2024, 5, 27)
    then = big.directory(datetime(2024, 2, 5, 9, tzinfo=UTC))
    now = big.directory(datetime(2024, 5, 27, 9, tzinfo=UTC))
    gone = {u.login for u in then.users} - {u.login for u in now.users}
    assert gone
    calls = big.external_calls(day(d1))
    named = {r["user_login"]: r["user_name"] for r in calls if r["user_login"]}
    assert gone & named.keys()
    for login in gone & named.keys():
        assert named[login] == then.names[login]
    later = {r["user_login"] for r in big.external_calls(day(d2)) if r["user_login"]}
    assert not later & gone


@pytest.mark.slow
def test_history_of_a_day_uses_that_days_directory() -> None:
    big = Emulator(seed=21, agents=200, profile="clean", clock=fixed_clock)
    start = date(2024, 1, 1)
    renamed_seen = False
    for offset in range(0, 140, 14):
        d = start + timedelta(days=offset)
        directory = big.directory(
            datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=9)
        )
        for row in big.external_calls(day(d)):
            if row["user_login"]:
                assert row["user_name"] == directory.names[row["user_login"]]
            if row["group_name"]:
                assert row["group_name"] in directory.group_names.values()
        later = big.directory(NOW)
        renamed_seen |= any(
            later.names.get(login) not in (None, name) for login, name in directory.names.items()
        )
    assert renamed_seen  # so the check above could tell the two directories apart
