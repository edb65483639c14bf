"""What `vats-etl serve` registers, without a server: each deployment's name, parameters,
tags and schedule, for the single account and for one account of an accounts file."""

from __future__ import annotations

from typing import Any

import pytest

from vats_etl.flows.serve import deployments

ROUTING = "routing.toml"


@pytest.mark.parametrize(
    ("account", "routing", "expected"),
    [
        (None, None, [("daily", {}), ("weekly-email", {}), ("callback-digest", {})]),
        (
            None,
            ROUTING,
            [
                ("daily", {}),  # the daily load takes no routing file
                ("weekly-email", {"routing": ROUTING}),
                ("callback-digest", {"routing": ROUTING}),
            ],
        ),
        (
            "acme",
            None,
            [
                ("acme", {"account": "acme"}),
                ("acme", {"account": "acme"}),
                ("acme", {"account": "acme"}),
            ],
        ),
        (
            "acme",
            ROUTING,
            [
                ("acme", {"account": "acme"}),
                ("acme", {"routing": ROUTING, "account": "acme"}),
                ("acme", {"routing": ROUTING, "account": "acme"}),
            ],
        ),
    ],
)
def test_each_deployment_gets_its_parameters(
    account: str | None, routing: str | None, expected: list[tuple[str, dict[str, Any]]]
) -> None:
    made = deployments(tz="Asia/Omsk", routing=routing, account=account)
    assert [(d.name, d.parameters) for d in made] == expected
    assert [d.flow_name for d in made] == [
        "vats-daily",
        "vats-weekly-email",
        "vats-callback-digest",
    ]
    assert all(d.tags == ["vats-etl"] for d in made)
    schedules = [d.schedules[0].schedule for d in made]
    assert [s.cron for s in schedules] == ["0 6 * * *", "0 8 * * 1", "0 9 * * 1-5"]
    assert {s.timezone for s in schedules} == {"Asia/Omsk"}
