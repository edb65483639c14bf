"""The call stream: realism bands, follow-ups, uids and determinism (on the ground truth)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.emulator.support import MSK, NOW, day, fixed_clock
from vats_etl.emulator import Emulator
from vats_etl.periods import Window

# Two full weeks (Mon 13 May - Sun 26 May 2024) of the 200-agent company.
FIRST = date(2024, 5, 13)
DAYS = [FIRST + timedelta(days=i) for i in range(14)]


@pytest.fixture(scope="module")
def fortnight(big_emu: Emulator) -> dict[date, list[dict[str, Any]]]:
    return {d: big_emu.external_calls(day(d)) for d in DAYS}


@pytest.fixture(scope="module")
def calls(fortnight: dict[date, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for rows in fortnight.values() for row in rows]


def _inbound(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["direction"] == "in"]


def _misses(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in _inbound(calls) if c["status"] != "success" and c["wait_s"] >= 5]


def test_about_thirty_calls_per_agent_per_working_day(
    fortnight: dict[date, list[dict[str, Any]]],
) -> None:
    weekdays = [len(rows) for d, rows in fortnight.items() if d.weekday() < 5]
    weekends = [len(rows) for d, rows in fortnight.items() if d.weekday() >= 5]
    assert 5000 <= statistics.mean(weekdays) <= 7500  # ~6,000 for 200 agents
    assert max(weekends) < 0.3 * min(weekdays)


def test_hour_profile_peaks_in_business_hours_with_some_night_calls(
    calls: list[dict[str, Any]],
) -> None:
    hours = Counter(c["started_at"].astimezone(MSK).hour for c in _inbound(calls))
    total = sum(hours.values())
    business = sum(hours[h] for h in range(9, 18))
    assert business / total > 0.8
    assert max(hours, key=lambda h: hours[h]) in range(10, 17)
    night = sum(hours[h] for h in (*range(0, 7), 22, 23))
    assert 0 < night / total < 0.03
    offtime = [c for c in _inbound(calls) if c["destination"] == "offtime"]
    assert offtime and all(c["status"] == "missed" for c in offtime)


def test_answer_rate_and_abandons_are_plausible(calls: list[dict[str, Any]]) -> None:
    inbound = _inbound(calls)
    short = [c for c in inbound if c["status"] != "success" and c["wait_s"] < 5]
    answered = [c for c in inbound if c["status"] == "success"]
    rate = len(answered) / (len(inbound) - len(short))
    assert 0.75 <= rate <= 0.95
    assert 0.01 <= len(short) / len(inbound) <= 0.08
    assert 0.45 <= len(inbound) / len(calls) <= 0.65
    assert {c["status"] for c in inbound} <= {"success", "missed", "cancel"}
    assert {c["destination"] for c in inbound if c["status"] != "success"} >= {
        "group",
        "vm",
        "offtime",
        "ivr",
        "hello",
    }
    assert all(c["user_login"] for c in answered)
    waits = sorted(c["wait_s"] for c in answered)
    assert 5 <= waits[len(waits) // 2] <= 20
    talks = sorted(c["duration_s"] for c in answered)
    assert 60 <= talks[len(talks) // 2] <= 300 and talks[-1] > 900


def test_outbound_statuses_and_durations_agree(calls: list[dict[str, Any]]) -> None:
    outbound = [c for c in calls if c["direction"] == "out"]
    assert {c["status"] for c in outbound} >= {"success", "missed", "busy", "notavailable"}
    assert all(c["duration_s"] > 0 for c in outbound if c["status"] == "success")
    assert all(c["duration_s"] == 0 for c in outbound if c["status"] != "success")
    assert all(c["destination"] is None for c in outbound)


def test_answering_agents_belong_to_the_routed_department(big_emu: Emulator) -> None:
    d = DAYS[2]
    directory = big_emu.directory(datetime.combine(d, datetime.min.time(), MSK))
    by_name = {g.name: g.id for g in directory.groups}
    answered = [
        c
        for c in big_emu.external_calls(day(d))
        if c["direction"] == "in" and c["destination"] == "user" and c["group_name"]
    ]
    assert answered
    for call in answered:
        assert directory.user(call["user_login"]).group_id == by_name[call["group_name"]]


def test_most_misses_are_called_back_some_late_some_never(calls: list[dict[str, Any]]) -> None:
    misses = [c for c in _misses(calls) if c["kind"] == "primary"]
    planned = [c for c in misses if c["callback_at"] is not None]
    assert 0.55 <= len(planned) / len(misses) <= 0.9

    def delay_s(call: dict[str, Any]) -> float:
        return float((call["callback_at"] - call["started_at"]).total_seconds())

    working = [
        c
        for c in planned
        if c["destination"] != "offtime" and c["started_at"].astimezone(MSK).weekday() < 5
    ]
    delays = sorted(delay_s(c) for c in working)
    assert 10 <= delays[len(delays) // 2] / 60 <= 60  # tens of minutes in working hours
    after_hours = [c for c in planned if c["destination"] == "offtime"]
    assert all(c["callback_at"].astimezone(MSK).weekday() < 5 for c in after_hours)
    mornings = [9 <= c["callback_at"].astimezone(MSK).hour < 12 for c in after_hours]
    assert sum(mornings) / len(mornings) > 0.7  # called back the next working morning
    assert any(delay_s(c) > 86_400 for c in working)
    assert any(c["callback_attempts"] >= 2 for c in planned)  # failed, then retried


def test_callbacks_are_real_rows_that_follow_their_miss(
    big_emu: Emulator, calls: list[dict[str, Any]]
) -> None:
    by_uid = {c["uid"]: c for c in calls}
    callbacks = [c for c in calls if c["kind"] == "callback"]
    assert callbacks
    crossed_days = 0
    for cb in callbacks:
        assert cb["direction"] == "out" and cb["followup_of"]
        miss = by_uid.get(cb["followup_of"])
        if miss is None:
            continue  # the miss happened before the fortnight
        assert miss["status"] != "success" and miss["direction"] == "in"
        assert cb["client"] == miss["client"]
        assert cb["started_at"] > miss["started_at"]
        crossed_days += (
            cb["started_at"].astimezone(MSK).date() != miss["started_at"].astimezone(MSK).date()
        )
    assert crossed_days > 0  # a miss at 17:55 is called back next morning
    successes = [c for c in callbacks if c["status"] == "success"]
    assert successes and all(c["duration_s"] > 0 for c in successes)
    assert any(c["status"] != "success" for c in callbacks)


def test_clients_call_again(calls: list[dict[str, Any]]) -> None:
    again = [c for c in calls if c["kind"] == "client_again"]
    assert again
    by_uid = {c["uid"]: c for c in calls}
    statuses = {c["status"] for c in again}
    assert "success" in statuses and statuses - {"success"}
    for row in again:
        miss = by_uid.get(row["followup_of"])
        if miss is not None:
            assert row["client"] == miss["client"] and row["direction"] == "in"
            assert miss["client_again_at"] == row["started_at"]


def test_repeat_callers_exist(calls: list[dict[str, Any]]) -> None:
    week = [c for c in _inbound(calls) if c["started_at"] < calls[0]["started_at"] + timedelta(7)]
    per_client = Counter(c["client"] for c in week)
    repeat = sum(n for n in per_client.values() if n >= 2) / len(week)
    assert 0.1 <= repeat <= 0.7


def test_ratings_are_sparse_skewed_high_and_depend_on_the_agent(
    calls: list[dict[str, Any]],
) -> None:
    answered = [c for c in _inbound(calls) if c["status"] == "success"]
    rated = [c for c in answered if c["rating"] is not None]
    assert 0.2 <= len(rated) / len(answered) <= 0.3
    assert all(c["rating"] in {1, 2, 3, 4, 5} for c in rated)
    assert all(c["rating"] is None for c in calls if c["direction"] == "out")
    assert statistics.mean(c["rating"] for c in rated) > 3.8
    assert sum(c["rating"] <= 2 for c in rated) > 0
    per_agent: dict[str, list[int]] = {}
    for c in rated:
        per_agent.setdefault(c["user_login"], []).append(c["rating"])
    means = [statistics.mean(v) for v in per_agent.values() if len(v) >= 15]
    assert max(means) - min(means) > 0.7


def test_recordings_exist_for_conversations_only(calls: list[dict[str, Any]]) -> None:
    for c in calls[:3000]:
        talked = c["status"] == "success" and c["duration_s"] > 0
        if talked:
            assert c["record_url"].startswith("https://") and c["uid"] in c["record_url"]
        elif c["destination"] != "vm":
            assert c["record_url"] is None


def test_internal_calls_are_ten_to_fifteen_percent(big_emu: Emulator) -> None:
    d = DAYS[1]
    internal = big_emu.internal_calls(day(d))
    external = big_emu.external_calls(day(d))
    share = len(internal) / (len(internal) + len(external))
    assert 0.08 <= share <= 0.15
    assert {c["status"] for c in internal} == {"success", "noanswer"}
    assert all(c["from_login"] != c["to_login"] for c in internal)
    assert all(c["duration_s"] == 0 for c in internal if c["status"] == "noanswer")


def test_uids_are_unique_ten_digit_strings_across_days_and_kinds(
    big_emu: Emulator, calls: list[dict[str, Any]]
) -> None:
    internal = [c["uid"] for d in DAYS[:3] for c in big_emu.internal_calls(day(d))]
    uids = [c["uid"] for c in calls] + internal
    assert len(set(uids)) == len(uids)
    assert all(len(u) == 10 and u.isdigit() and u[0] != "0" for u in uids)


def test_a_day_is_a_pure_function_of_seed_and_day() -> None:
    target = date(2024, 5, 15)
    alone = Emulator(seed=11, agents=60, clock=fixed_clock).external_calls(day(target))
    warmed = Emulator(seed=11, agents=60, clock=fixed_clock)
    warmed.external_calls(Window(day(date(2024, 5, 1)).start, day(date(2024, 5, 20)).end))
    assert warmed.external_calls(day(target)) == alone
    other = Emulator(seed=12, agents=60, clock=fixed_clock).external_calls(day(target))
    assert [c["uid"] for c in other] != [c["uid"] for c in alone]


def test_only_calls_started_before_the_clock_exist(emu: Emulator) -> None:
    today = emu.external_calls(day(NOW.astimezone(MSK).date()))
    assert today and all(c["started_at"] < NOW for c in today)
    later = Emulator(seed=7, agents=40, clock=lambda: NOW + timedelta(hours=3))
    assert len(later.external_calls(day(NOW.astimezone(MSK).date()))) > len(today)
    assert emu.external_calls(Window(NOW, NOW + timedelta(days=1))) == []
