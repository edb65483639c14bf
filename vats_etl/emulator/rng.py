"""Deterministic randomness and identifiers.

Every random draw in the emulator comes from a generator keyed by ``(seed, purpose, key...)``
so any piece (a day's calls, a week's directory changes, one request's fault) can be
recomputed on its own, in any order, from any thread, with the same result.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date
from enum import IntEnum

import numpy as np

# Calls exist from this day on; uids count days from it.
FIRST_DAY = date(2000, 1, 1)
# Each local day owns 100,000 consecutive uid ordinals, split by what the call is.
DAY_SLOTS = 100_000
PRIMARY_BASE = 0  # external calls generated on the day
FOLLOWUP_BASE = 50_000  # callbacks and repeat calls caused by the day's misses
INTERNAL_BASE = 70_000  # internal calls
MAKECALL_BASE = 90_000  # calls started through POST /makecall
_UID_FLOOR = 1_000_000_000  # uids are 10-digit strings without a leading zero
_UID_SPAN = 9_000_000_000


class Purpose(IntEnum):
    """Separates the random streams; never renumber (that would change every dataset)."""

    COMPANY = 1
    DIRECTORY_WEEK = 2
    PRIMARY = 3
    INTERNAL = 4
    FOLLOWUP = 5
    QUIRKS = 6
    MALFORMED = 7
    UIDS = 8
    CLIENTS = 9


def generator(seed: int, purpose: Purpose, *key: int) -> np.random.Generator:
    """A numpy generator for one piece of the world; keys are non-negative integers."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, int(purpose), *key])))


def unit_hash(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by ``parts`` (for one-off decisions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def int_hash(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def day_number(day: date) -> int:
    return (day - FIRST_DAY).days


def _coprime_multiplier(seed: int, purpose: Purpose, modulus: int, low: int, high: int) -> int:
    """A multiplier for an affine bijection modulo ``modulus``."""
    candidate = low + int_hash(seed, int(purpose), "mul") % (high - low)
    while math.gcd(candidate, modulus) != 1:
        candidate += 1
    return candidate


class UidScrambler:
    """A keyed bijection from ordinals ``day_number * DAY_SLOTS + slot`` onto 10-digit uids.

    A 4-round Feistel network permutes 34-bit numbers; "cycle walking" (re-applying it while
    the result is outside ``[0, 9·10⁹)``) turns that into a permutation of the uid range, so
    uids never collide across days and neighbouring calls get unrelated-looking uids.
    """

    _HALF_BITS = 17
    _HALF_MASK = (1 << 17) - 1

    def __init__(self, seed: int) -> None:
        self._keys = [int_hash(seed, int(Purpose.UIDS), r) & 0xFFFFFFFF for r in range(4)]

    def _permute(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self._HALF_BITS, x & self._HALF_MASK
        for key in self._keys:
            mixed = ((right * 0x9E3779B1 + key) ^ (right >> 5)) * 0x85EBCA6B
            left, right = right, left ^ ((mixed >> 13) & self._HALF_MASK)
        return (left << self._HALF_BITS) | right

    def uids(self, ordinals: np.ndarray) -> list[str]:
        values = ordinals.astype(np.uint64)
        if len(values) and int(values.max()) >= _UID_SPAN:
            raise ValueError("uid ordinal out of range")
        values = self._permute(values)
        outside = values >= _UID_SPAN
        while outside.any():
            values[outside] = self._permute(values[outside])
            outside = values >= _UID_SPAN
        return [str(v) for v in (values + _UID_FLOOR).tolist()]

    def uid(self, ordinal: int) -> str:
        return self.uids(np.array([ordinal], dtype=np.int64))[0]


class PhoneBook:
    """Client phone numbers: pool index → a distinct mobile number ``79XXXXXXXXX``."""

    _SPAN = 1_000_000_000

    def __init__(self, seed: int) -> None:
        self._a = _coprime_multiplier(seed, Purpose.CLIENTS, self._SPAN, 10_000_019, 99_999_999)
        self._b = int_hash(seed, int(Purpose.CLIENTS), "add") % self._SPAN

    def numbers(self, indexes: np.ndarray) -> np.ndarray:
        digits = (indexes.astype(np.int64) * self._a + self._b) % self._SPAN
        return np.array([f"79{d:09d}" for d in digits.tolist()], dtype=object)
