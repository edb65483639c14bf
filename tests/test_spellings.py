"""The shared spelling tables: every known spelling maps, unknown ones are kept, not dropped."""

from __future__ import annotations

import pytest

from vats_etl import spellings


@pytest.mark.parametrize(
    ("delivered", "canonical"),
    [
        ("in", "in"),
        ("IN", "in"),
        (" Incoming ", "in"),
        ("out", "out"),
        ("OUTGOING", "out"),
        ("sideways", None),
        ("", None),
        (None, None),
    ],
)
def test_direction(delivered: str | None, canonical: str | None) -> None:
    assert spellings.direction(delivered) == canonical


@pytest.mark.parametrize(
    ("delivered", "canonical"),
    [
        ("success", "success"),
        ("SUCCESS", "success"),
        ("NoAnswer", "missed"),
        ("noanswer", "missed"),
        ("not_available", "notavailable"),
        ("NotAvailable", "notavailable"),
        ("Transfered", "transfered"),
        ("  ", None),
        (None, None),
    ],
)
def test_status(delivered: str | None, canonical: str | None) -> None:
    assert spellings.status(delivered) == canonical


def test_every_alias_lands_on_a_known_status() -> None:
    assert set(spellings.STATUS_SPELLINGS.values()) <= set(spellings.EXTERNAL_STATUSES)


@pytest.mark.parametrize(
    ("delivered", "canonical"),
    [
        ("ivanov", "ivanov"),
        ("ivanov@acme.megapbx.ru", "ivanov"),
        (" u701@pbx.example ", "u701"),
        ("@acme.megapbx.ru", None),
        (None, None),
    ],
)
def test_login(delivered: str | None, canonical: str | None) -> None:
    assert spellings.login(delivered) == canonical
