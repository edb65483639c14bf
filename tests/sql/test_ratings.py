"""ratings, rating_by_employee, low_ratings: early ratings count, missing ratings never do."""

from __future__ import annotations

import math

import duckdb
import pytest

from tests.support.warehouse_rows import (
    DAY,
    MIN,
    T0,
    call,
    insert_calls,
    insert_versions,
    rows,
    set_kpi,
)


def webhook_rating(uid: str, login: str, rating: int) -> dict[str, object]:
    """What the webhook receiver writes when a rating arrives before the call's history."""
    return call(
        uid,
        direction=None,
        status=None,
        client="79001112233",
        diversion=None,
        destination=None,
        user_login=login,
        group_name=None,
        started_at=None,
        wait_s=None,
        duration_s=None,
        record_url=None,
        rating=rating,
        source="webhook",
    )


def test_a_rating_that_arrives_without_a_call(con: duckdb.DuckDBPyConnection) -> None:
    insert_versions(
        con, "users_history", [{"user_login": "u1", "user_name": "Анна", "valid_from": T0 - DAY}]
    )
    insert_versions(
        con, "groups_history", [{"group_id": "s", "group_name": "Продажи", "valid_from": T0 - DAY}]
    )
    insert_versions(
        con,
        "group_members_history",
        [{"group_id": "s", "user_login": "u1", "valid_from": T0 - DAY}],
    )
    insert_calls(con, [webhook_rating("early", "u1", 2), call("loaded", user_login="u1", rating=5)])
    got = rows(
        con,
        "select uid, rating, is_call_loaded, department, user_name, local_date "
        "from ratings order by uid",
    )
    assert got == [
        {
            "uid": "early",
            "rating": 2,
            "is_call_loaded": False,
            "department": "Продажи",
            "user_name": "Анна",
            "local_date": None,
        },
        {
            "uid": "loaded",
            "rating": 5,
            "is_call_loaded": True,
            "department": "Продажи",
            "user_name": "Анна",
            "local_date": T0.date(),
        },
    ]
    employee = rows(
        con,
        "select user_login, rated_calls, rated_without_call, answered_calls, "
        "response_rate, rating_mean from rating_by_employee",
    )
    assert employee == [
        {
            "user_login": "u1",
            "rated_calls": 2,
            "rated_without_call": 1,
            "answered_calls": 1,
            "response_rate": 2.0,
            "rating_mean": 3.5,
        }
    ]
    assert rows(con, "select uid, is_call_loaded from low_ratings") == [
        {"uid": "early", "is_call_loaded": False}
    ]
    # not an inbound call yet: no day to count it in
    assert rows(con, "select offered, rated_calls from kpi_daily where is_total") == [
        {"offered": 1, "rated_calls": 1}
    ]


def test_a_call_without_a_rating_is_never_a_score(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("r5", user_login="u1", rating=5),
            call("r1", user_login="u1", rating=1, started_at=T0 + MIN),
            call("n1", user_login="u1", started_at=T0 + 2 * MIN),
            call("n2", user_login="u1", started_at=T0 + 3 * MIN),
            call("out-unrated", direction="out", user_login="u1", started_at=T0 + 4 * MIN),
        ],
    )
    assert [r["uid"] for r in rows(con, "select uid from ratings order by uid")] == ["r1", "r5"]
    got = rows(
        con,
        "select rated_calls, answered_calls, response_rate, rating_mean, csat_share, "
        "dsat_share from rating_by_employee",
    )
    assert got == [
        {
            "rated_calls": 2,
            "answered_calls": 4,
            "response_rate": 0.5,
            "rating_mean": 3.0,
            "csat_share": 0.5,
            "dsat_share": 0.5,
        }
    ]
    daily = rows(con, "select answered, rated_calls, rating_mean from kpi_daily where is_total")
    assert daily == [{"answered": 4, "rated_calls": 2, "rating_mean": 3.0}]


def wilson_lower(successes: int, n: int, z: float = 1.959963984540054) -> float:
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def test_ranking_needs_a_minimum_sample(con: duckdb.DuckDBPyConnection) -> None:
    ratings = {
        "steady": [5] * 8 + [4, 2, 1, 5],  # 12 ratings, 10 satisfied
        "perfect-few": [5, 5, 5],  # best mean, too few to rank
        "mixed": [4, 3] * 5,  # 10 ratings, 5 satisfied
    }
    insert_calls(
        con,
        [
            call(
                f"{login}-{i}",
                user_login=login,
                rating=r,
                client=f"7{i:04d}",
                started_at=T0 + i * MIN,
            )
            for login, values in ratings.items()
            for i, r in enumerate(values)
        ],
    )
    got = {
        r["user_login"]: r
        for r in rows(
            con,
            "select user_login, rated_calls, csat_wilson_lower, is_ranked, "
            "rating_rank from rating_by_employee",
        )
    }
    assert got["steady"]["csat_wilson_lower"] == pytest.approx(wilson_lower(10, 12))
    assert got["mixed"]["csat_wilson_lower"] == pytest.approx(wilson_lower(5, 10))
    assert got["perfect-few"]["csat_wilson_lower"] == pytest.approx(wilson_lower(3, 3))
    assert {k: (v["is_ranked"], v["rating_rank"]) for k, v in got.items()} == {
        "steady": (True, 1),
        "mixed": (True, 2),
        "perfect-few": (False, None),
    }
    set_kpi(con, min_rating_sample=3)
    ranks = {
        r["user_login"]: r["rating_rank"]
        for r in rows(con, "select user_login, rating_rank from rating_by_employee")
    }
    assert ranks == {"steady": 1, "perfect-few": 2, "mixed": 3}


def test_low_ratings_carry_the_recording(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("bad", user_login="u1", rating=1),
            call("meh", user_login="u1", rating=3, started_at=T0 + MIN),
            call("poor", user_login="u2", rating=2, started_at=T0 + 2 * MIN, record_url=None),
        ],
    )
    got = rows(con, "select uid, rating, user_login, record_url from low_ratings order by uid")
    assert got == [
        {
            "uid": "bad",
            "rating": 1,
            "user_login": "u1",
            "record_url": "https://rec.example/bad.mp3",
        },
        {"uid": "poor", "rating": 2, "user_login": "u2", "record_url": None},
    ]
