"""Call recordings as the emulated PBX serves them: which ones are gone, and their bytes.

Public integrations fetch the links of the call history with the ``X-API-KEY`` header, copy
them soon, and treat 404 as a recording deleted and 410 as one expired. The emulator does
the same to its clients, deterministically from ``(seed, uid)``: ~3 % of recordings answer
404, ~2 % 410, and every recording older than ``keep_days`` (the PBX's retention) 410. The
others are a few kilobytes of bytes that start like an MP3 file (an ID3 header): enough to
copy, checksum and count, not to play.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal

from vats_etl.emulator.rng import int_hash, unit_hash

DELETED_SHARE = 0.03
EXPIRED_SHARE = 0.02
KEEP_DAYS = 90
MIN_BYTES, SPREAD_BYTES = 2048, 6144
ID3_HEADER = b"ID3\x04\x00\x00\x00\x00\x00\x00"

Fate = Literal["ok", "deleted", "expired"]


def fate(seed: int, uid: str, recorded_on: date, today: date, keep_days: int = KEEP_DAYS) -> Fate:
    """Whether the recording of call ``uid`` (made on ``recorded_on``) is served today."""
    if (today - recorded_on).days > keep_days:
        return "expired"
    draw = unit_hash(seed, "recording", uid)
    if draw < DELETED_SHARE:
        return "deleted"
    if draw < DELETED_SHARE + EXPIRED_SHARE:
        return "expired"
    return "ok"


def audio(seed: int, uid: str) -> bytes:
    """The recording's bytes: the same every time for the same call."""
    size = MIN_BYTES + int_hash(seed, "recording-size", uid) % SPREAD_BYTES
    body = hashlib.shake_256(f"{seed}:{uid}".encode()).digest(size - len(ID3_HEADER))
    return ID3_HEADER + body
