"""users, groups, telnums: the current versions only."""

from __future__ import annotations

import duckdb

from tests.support.warehouse_rows import DAY, T0, insert_versions, rows


def test_current_versions(con: duckdb.DuckDBPyConnection) -> None:
    insert_versions(
        con,
        "users_history",
        [
            {"user_login": "u1", "position": "old", "valid_from": T0 - DAY, "valid_to": T0},
            {"user_login": "u1", "position": "new", "valid_from": T0},
            {"user_login": "left", "position": "x", "valid_from": T0 - DAY, "valid_to": T0},
        ],
    )
    insert_versions(
        con,
        "groups_history",
        [
            {"group_id": "g1", "group_name": "Старое", "valid_from": T0 - DAY, "valid_to": T0},
            {"group_id": "g1", "group_name": "Продажи", "valid_from": T0},
        ],
    )
    insert_versions(
        con,
        "group_members_history",
        [
            {
                "group_id": "g1",
                "user_login": "u2",
                "member_position": 1,
                "is_calls_enabled": False,
                "valid_from": T0,
            },
            {
                "group_id": "g1",
                "user_login": "u1",
                "member_position": 0,
                "is_calls_enabled": True,
                "valid_from": T0,
            },
            {
                "group_id": "g1",
                "user_login": "left",
                "member_position": 2,
                "is_calls_enabled": True,
                "valid_from": T0 - DAY,
                "valid_to": T0,
            },
        ],
    )
    insert_versions(
        con,
        "telnums_history",
        [{"telnum": "74950000001", "route_type": "group", "group_id": "g1", "valid_from": T0}],
    )
    assert rows(con, "select user_login, position from users") == [
        {"user_login": "u1", "position": "new"}
    ]
    assert rows(
        con, "select group_name, member_count, calls_enabled_count, member_logins from groups"
    ) == [
        {
            "group_name": "Продажи",
            "member_count": 2,
            "calls_enabled_count": 1,
            "member_logins": ["u1", "u2"],
        }
    ]
    assert rows(con, "select telnum, group_name from telnums") == [
        {"telnum": "74950000001", "group_name": "Продажи"}
    ]
