"""``missedStatus``: what the emulated PBX says about a missed call or a call-back.

A PBX cannot know why an employee dials a client; it knows its own calls. So the emulated
PBX judges from the call stream it serves, by the rules our reports apply, at their
defaults (T_short = 5 s, W = 24 h):

* a *miss* is an inbound call not answered after at least ``SHORT_ABANDON_S`` of waiting;
  a *conversation* is an answered inbound call, or an outgoing call answered with a
  positive duration;
* a miss is ``OPEN`` (3) until the first conversation with its client after it, and
  ``CLOSED`` (1) from that conversation on — as of the emulator's clock, so a miss of last
  week closed today says 1 from today on;
* an outgoing call is a ``CALLBACK`` (2) when its client has a miss no conversation has
  closed yet, at most ``RECOVERY_WINDOW_S`` before the call;
* every other call carries no ``missedStatus``.

"After" and "before" order one client's calls by start, then by uid, the order the
warehouse's SQL uses, so the view comparing the PBX's verdict with ours (sql/
pbx_missed_verdicts.sql) agrees on every call the emulator serves. Which values a real PBX
sends, and what it means by them, is the reading of public integrations (2 marks a call-back,
3 and 4 a miss still open); 1 for a closed miss is the emulator's choice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from vats_etl.emulator.cache import Lru
from vats_etl.emulator.calls import NO_TIME, SHORT_ABANDON_S, SUCCESS, Array, CallModel
from vats_etl.emulator.rng import UidScrambler
from vats_etl.periods import local_date

NONE, CLOSED, CALLBACK, OPEN = 0, 1, 2, 3
RECOVERY_WINDOW_S = 24 * 3600
# A call-back answers a miss at most W before it: these days before a call's day hold them
# (two, so that a 23-hour day of a clock change is covered too).
LOOKBACK_DAYS = 2


@dataclass(frozen=True)
class _DayFacts:
    """What the verdicts need of one local day's external calls, oldest first."""

    start: Array  # int64 epoch seconds
    client: list[str]
    uid: list[str]
    inbound: Array  # bool
    is_miss: Array  # bool
    is_conversation: Array  # bool

    def order(self) -> list[int]:
        """Row indexes by (start, uid): the order of the warehouse's SQL."""
        return sorted(range(len(self.uid)), key=lambda i: (int(self.start[i]), self.uid[i]))


@dataclass(frozen=True)
class _FirstConversations:
    """Each client's first conversation of one day (an earlier day's miss looks no further),
    as two arrays sorted by client: a few kilobytes a day, so that the search of every miss
    up to today keeps years of them instead of rebuilding the days it walks through."""

    client: Array  # str, sorted
    start: Array  # int64 epoch seconds

    def of(self, clients: list[str]) -> tuple[Array, Array]:
        """(which of `clients` talked that day, when they first did) for those that did."""
        if not len(self.client):
            return np.zeros(len(clients), dtype=bool), np.empty(0, dtype=np.int64)
        wanted = np.asarray(clients, dtype=str)
        at = np.minimum(np.searchsorted(self.client, wanted), len(self.client) - 1)
        found = self.client[at] == wanted
        return found, self.start[at[found]]


@dataclass
class _Resolution:
    """For each row of a day: the first conversation with its client after it, if the row
    is a miss (NO_TIME while none is known), searched through the day ``through``."""

    next_conversation: Array
    through: date
    lock: threading.Lock = field(default_factory=threading.Lock)


class Verdicts:
    """The ``missedStatus`` of every external call of a day, as of a moment."""

    def __init__(self, model: CallModel, uids: UidScrambler) -> None:
        self._model = model
        self._uids = uids
        self._facts: Lru[_DayFacts] = Lru(128)
        self._firsts: Lru[_FirstConversations] = Lru(4096)
        self._resolutions: Lru[_Resolution] = Lru(256)
        self._callbacks: Lru[Array] = Lru(256)

    def statuses(self, day: date, now: datetime) -> Array:
        """int8 per row of ``model.day(day)``: NONE, CLOSED, CALLBACK or OPEN, as of ``now``."""
        facts = self._day_facts(day)
        result = np.where(self._callback_rows(day), CALLBACK, NONE).astype(np.int8)
        if not facts.is_miss.any():
            return result
        resolution = self._resolved(day, local_date(now, self._model.zone))
        moment = now.timestamp()
        closed = (resolution.next_conversation != NO_TIME) & (resolution.next_conversation < moment)
        result[facts.is_miss] = np.where(closed[facts.is_miss], CLOSED, OPEN)
        return result

    # -- one day's facts --------------------------------------------------------------------

    def _day_facts(self, day: date) -> _DayFacts:
        return self._facts.get_or_make(day, lambda: self._make_facts(day))

    def _make_facts(self, day: date) -> _DayFacts:
        batch = self._model.day(day)
        answered = batch.status == SUCCESS
        conversation = answered & (batch.inbound | (batch.duration > 0))
        miss = batch.inbound & ~answered & (batch.wait >= SHORT_ABANDON_S)
        clients = [str(c) for c in batch.client.tolist()]
        return _DayFacts(
            start=batch.start.astype(np.int64),
            client=clients,
            uid=self._uids.uids(batch.ordinal),
            inbound=np.asarray(batch.inbound, dtype=bool),
            is_miss=np.asarray(miss, dtype=bool),
            is_conversation=np.asarray(conversation, dtype=bool),
        )

    def _first_conversations(self, day: date) -> _FirstConversations:
        return self._firsts.get_or_make(day, lambda: self._make_first_conversations(day))

    def _make_first_conversations(self, day: date) -> _FirstConversations:
        facts = self._day_facts(day)
        first: dict[str, int] = {}
        for i in np.flatnonzero(facts.is_conversation).tolist():  # oldest first: keep the first
            first.setdefault(facts.client[i], int(facts.start[i]))
        clients = sorted(first)
        return _FirstConversations(
            client=np.asarray(clients, dtype=str),
            start=np.asarray([first[c] for c in clients], dtype=np.int64),
        )

    # -- misses: the first conversation after each, searched up to today ---------------------

    def _resolved(self, day: date, today: date) -> _Resolution:
        resolution = self._resolutions.get_or_make(day, lambda: self._within_day(day))
        with resolution.lock:
            if resolution.through >= today:
                return resolution
            facts = self._day_facts(day)  # held here: the days walked through would evict it
            while resolution.through < today:
                later = resolution.through + timedelta(days=1)
                self._search_day(facts, resolution, later)
                resolution.through = later
        return resolution

    def _within_day(self, day: date) -> _Resolution:
        facts = self._day_facts(day)
        found = np.full(len(facts.uid), NO_TIME, dtype=np.int64)
        nearest: dict[str, int] = {}  # walking backwards: each client's next conversation
        for i in reversed(facts.order()):
            if facts.is_miss[i]:
                found[i] = nearest.get(facts.client[i], NO_TIME)
            elif facts.is_conversation[i]:
                nearest[facts.client[i]] = int(facts.start[i])
        return _Resolution(found, day)

    def _search_day(self, facts: _DayFacts, resolution: _Resolution, later: date) -> None:
        open_misses = np.flatnonzero(facts.is_miss & (resolution.next_conversation == NO_TIME))
        if not len(open_misses):
            return
        found, at = self._first_conversations(later).of([facts.client[i] for i in open_misses])
        resolution.next_conversation[open_misses[found]] = at

    # -- call-backs: an outgoing call while its client has an open miss within W ----------

    def _callback_rows(self, day: date) -> Array:
        return self._callbacks.get_or_make(day, lambda: self._make_callbacks(day))

    def _make_callbacks(self, day: date) -> Array:
        days = [day - timedelta(days=back) for back in range(LOOKBACK_DAYS, -1, -1)]
        rows: list[tuple[int, str, int, int]] = []  # (start, uid, day index, row)
        for index, each in enumerate(days):
            facts = self._day_facts(each)
            rows.extend(
                (int(facts.start[i]), facts.uid[i], index, i) for i in range(len(facts.uid))
            )
        rows.sort()
        target = self._day_facts(day)
        marked = np.zeros(len(target.uid), dtype=bool)
        latest_open_miss: dict[str, int] = {}
        last = len(days) - 1
        for start, _, index, i in rows:
            facts = target if index == last else self._day_facts(days[index])
            client = facts.client[i]
            if index == last and not facts.inbound[i]:
                missed_at = latest_open_miss.get(client)
                marked[i] = missed_at is not None and missed_at >= start - RECOVERY_WINDOW_S
            if facts.is_conversation[i]:
                latest_open_miss.pop(client, None)
            elif facts.is_miss[i]:
                latest_open_miss[client] = start
        return marked
