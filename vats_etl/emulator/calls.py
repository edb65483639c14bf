"""The call stream: a pure function of ``(seed, local day)``, generated with numpy.

A local day's external history is its *primary* calls plus the *follow-ups* (callbacks to
missed clients, clients calling again) that misses of the three days before and of the day
itself cause on it. Each piece is computed from its own random stream, so any day of any
year is served without storage and without generating the days in between.

Calls are held column-wise (:class:`Batch`); names are not stored but resolved against the
directory of the day the call is served on, which is how the real PBX behaves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from vats_etl.emulator.cache import Lru
from vats_etl.emulator.directory import Directory, Telnum, Timeline
from vats_etl.emulator.rng import (
    DAY_SLOTS,
    FIRST_DAY,
    FOLLOWUP_BASE,
    INTERNAL_BASE,
    PRIMARY_BASE,
    PhoneBook,
    Purpose,
    day_number,
    generator,
)
from vats_etl.periods import day_window

Array = npt.NDArray[Any]

STATUSES = ("success", "missed", "cancel", "busy", "notavailable", "notallowed", "notfound")
SUCCESS, MISSED, CANCEL, BUSY, NOTAVAILABLE, NOTALLOWED, NOTFOUND = range(7)
INTERNAL_STATUSES = ("success", "noanswer")
DESTINATIONS = ("", "user", "group", "telnum", "ivr", "onduty", "offtime", "hello", "vm", "am")
D_NONE, D_USER, D_GROUP, D_TELNUM, D_IVR, D_ONDUTY, D_OFFTIME, D_HELLO, D_VM, D_AM = range(10)
KINDS = ("primary", "callback", "client_again")
PRIMARY, CALLBACK, CLIENT_AGAIN = range(3)
NO_TIME = -1  # "no such instant" in int64 time columns

CALLS_PER_AGENT = 30.0  # external calls per agent on a working day
INBOUND_SHARE = 0.55
INTERNAL_SHARE = 0.13  # internal calls per external call
SHORT_ABANDON_S = 5
FOLLOWUP_DAYS = 3  # follow-ups land at most this many days after the miss
# Relative call volume by local hour (0-23) and by weekday (Monday first).
INBOUND_HOURS = (0.15, 0.1, 0.05, 0.05, 0.05, 0.1, 0.15, 0.4, 1.0, 7.0, 9.0, 9.5,
                 8.0, 7.0, 8.5, 8.5, 8.0, 7.0, 1.5, 0.6, 0.3, 0.2, 0.15, 0.1)  # fmt: skip
OUTBOUND_HOURS = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 1.5, 6.0, 9.0, 9.5,
                  7.0, 6.0, 8.5, 9.0, 8.0, 7.0, 3.0, 0.8, 0.2, 0.05, 0.0, 0.0)  # fmt: skip
WEEKDAY_VOLUME = (1.1, 1.0, 1.0, 1.0, 0.9, 0.18, 0.08)
# Outbound outcomes: success, missed, cancel, busy, notavailable, notallowed, notfound.
OUTBOUND_STATUS_P = (0.62, 0.16, 0.04, 0.08, 0.08, 0.01, 0.01)
RATED_SHARE = 0.25  # answered inbound calls the client rates
BUSINESS_HOURS = (9, 19)  # when agents call clients back


@dataclass(frozen=True)
class Batch:
    """External calls, one array element per call (hidden fields drive follow-ups)."""

    ordinal: Array  # int64 uid ordinal: day_number * DAY_SLOTS + slot
    start: Array  # int64 UTC epoch seconds
    inbound: Array  # bool
    status: Array  # int8 index into STATUSES
    destination: Array  # int8 index into DESTINATIONS
    client: Array  # object: phone number
    diversion: Array  # object: company number dialled (in) or shown (out)
    login: Array  # object: employee login, "" for none
    group: Array  # object: department the call passed through, "" for none
    route_group: Array  # object: hidden: department responsible for the client
    telnum: Array  # int32 hidden: index of the company number in the day's routing
    wait: Array  # int32 seconds
    duration: Array  # int32 seconds
    rating: Array  # int8 1-5, 0 for none
    kind: Array  # int8 index into KINDS
    origin: Array  # int64 ordinal of the miss a follow-up answers, -1 for none
    callback_at: Array  # int64 intent on misses: first callback attempt, NO_TIME if never
    callback_attempts: Array  # int8
    callback_success_at: Array  # int64
    client_again_at: Array  # int64

    def __len__(self) -> int:
        return len(self.ordinal)

    def take(self, index: Array) -> Batch:
        return Batch(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        return Batch(
            **{
                f.name: np.concatenate([getattr(b, f.name) for b in batches])
                for f in dataclasses.fields(Batch)
            }
        )


@dataclass(frozen=True)
class InternalBatch:
    """Internal calls between employees."""

    ordinal: Array
    start: Array
    status: Array  # int8 index into INTERNAL_STATUSES
    caller: Array  # object login
    callee: Array  # object login
    wait: Array
    duration: Array
    recorded: Array  # bool

    def __len__(self) -> int:
        return len(self.ordinal)


def _empty_batch() -> Batch:
    def ints(dtype: type[np.generic]) -> Array:
        return np.zeros(0, dtype=dtype)

    objects = np.zeros(0, dtype=object)
    return Batch(
        ordinal=ints(np.int64), start=ints(np.int64), inbound=ints(np.bool_),
        status=ints(np.int8), destination=ints(np.int8), client=objects, diversion=objects,
        login=objects, group=objects, route_group=objects, telnum=ints(np.int32),
        wait=ints(np.int32), duration=ints(np.int32), rating=ints(np.int8),
        kind=ints(np.int8), origin=ints(np.int64), callback_at=ints(np.int64),
        callback_attempts=ints(np.int8), callback_success_at=ints(np.int64),
        client_again_at=ints(np.int64),
    )  # fmt: skip


# --- routing: the directory of one day, as arrays --------------------------------------------


@dataclass(frozen=True)
class Routing:
    """What the call generator needs from a directory, precomputed as arrays."""

    directory: Directory
    telnums: tuple[Telnum, ...]
    telnum_p: Array  # probability a call dials each number
    group_ids: tuple[str, ...]
    answer_rate: Array  # per group
    timeout_s: Array  # per group
    voicemail: Array  # per group: unanswered calls end in voicemail
    callback_rate: Array  # per group
    answerers: tuple[Array, ...]  # per group: logins taking calls
    answerer_p: tuple[Array, ...]
    quality: dict[str, float]
    callers: Array  # logins making outbound calls
    caller_p: Array
    caller_line: Array  # number shown on the caller's outbound calls

    @staticmethod
    def of(directory: Directory) -> Routing:
        groups = directory.groups
        answerers, answerer_p = [], []
        for group in groups:
            members = [u for u in directory.members(group.id) if u.answers_calls]
            weights = np.array([u.activity for u in members], dtype=float)
            answerers.append(np.array([u.login for u in members], dtype=object))
            answerer_p.append(weights / weights.sum() if len(members) else weights)
        outbound = {g.id: g.outbound_share for g in groups}
        # Everyone in a department calls out unless on DND; a company of five on DND still
        # has its admin.
        staff = [u for u in directory.users if u.group_id and not u.dnd] or list(directory.users)
        weights = np.array([u.activity * outbound.get(u.group_id, 0.3) for u in staff])
        main = directory.main_telnum.telnum
        telnum_w = np.array([t.weight for t in directory.telnums], dtype=float)
        return Routing(
            directory=directory,
            telnums=directory.telnums,
            telnum_p=telnum_w / telnum_w.sum(),
            group_ids=tuple(g.id for g in groups),
            answer_rate=np.array([g.answer_rate for g in groups]),
            timeout_s=np.array([g.timeout_time for g in groups]),
            voicemail=np.array([g.timeout_target == "voicemail" for g in groups]),
            callback_rate=np.array([g.callback_rate for g in groups]),
            answerers=tuple(answerers),
            answerer_p=tuple(answerer_p),
            quality={u.login: u.quality for u in directory.users},
            callers=np.array([u.login for u in staff], dtype=object),
            caller_p=weights / weights.sum(),
            caller_line=np.array([u.telnum or main for u in staff], dtype=object),
        )

    def group_index(self, group_id: str) -> int:
        return self.group_ids.index(group_id) if group_id in self.group_ids else -1


# --- small vectorised helpers ----------------------------------------------------------------


def _lognormal(
    rng: np.random.Generator, median: float, sigma: float, n: int | tuple[int, int]
) -> Array:
    return rng.lognormal(np.log(median), sigma, n)


def _seconds_in_hours(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> Array:
    """Seconds after local midnight, hour by the profile, uniform within the hour."""
    p = np.array(weights) / sum(weights)
    hours = rng.choice(24, size=n, p=p)
    return hours * 3600 + rng.integers(0, 3600, size=n)


def _pick_weighted(rng: np.random.Generator, options: Array, p: Array, n: int) -> Array:
    if len(options) == 0:
        return np.full(n, "", dtype=object)
    return options[rng.choice(len(options), size=n, p=p)]


def _to_utc(day: date, zone: ZoneInfo, local_seconds: Array) -> Array:
    """Local clock seconds → UTC epoch seconds inside the local day's window.

    A day with a DST change is 23 or 25 hours long; the profile is stretched onto it so the
    call stays inside the day's window (an hour's shift on two days a year is harmless).
    """
    window = day_window(day, zone)
    length = int(window.seconds)
    scaled = local_seconds if length == 86_400 else local_seconds * length // 86_400
    return int(window.start.timestamp()) + scaled.astype(np.int64)


def _local_parts(instants: Array, zone: ZoneInfo) -> tuple[Array, Array]:
    """Weekday and seconds after local midnight of each UTC epoch second."""
    weekday = np.empty(len(instants), dtype=np.int64)
    seconds = np.empty(len(instants), dtype=np.int64)
    for i, t in enumerate(instants.tolist()):
        local = datetime.fromtimestamp(t, zone)
        weekday[i] = local.weekday()
        seconds[i] = local.hour * 3600 + local.minute * 60 + local.second
    return weekday, seconds


def _next_business(instant: int, zone: ZoneInfo, extra_s: int) -> int:
    """``instant`` if agents work then, else the next working morning plus ``extra_s``."""
    local = datetime.fromtimestamp(instant, zone)
    opens, closes = BUSINESS_HOURS
    if local.weekday() < 5 and opens <= local.hour < closes:
        return instant
    day = local.date()
    if local.weekday() >= 5 or local.hour >= closes:
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return int(datetime.combine(day, time(opens), zone).timestamp()) + extra_s


# --- inbound routing --------------------------------------------------------------------------


@dataclass
class _Outcome:
    status: Array
    destination: Array
    login: Array
    group: Array
    route_group: Array
    wait: Array
    duration: Array
    rating: Array


def route_inbound(
    rng: np.random.Generator, routing: Routing, tel: Array, weekday: Array, seconds: Array
) -> _Outcome:
    """What happens to inbound calls dialled to numbers ``tel`` at local (weekday, seconds)."""
    n = len(tel)
    status = np.full(n, MISSED, dtype=np.int8)
    dest = np.full(n, D_GROUP, dtype=np.int8)
    login = np.full(n, "", dtype=object)
    group = np.full(n, "", dtype=object)
    route_group = np.full(n, "", dtype=object)
    gidx = np.full(n, -1, dtype=np.int64)
    wait = np.zeros(n, dtype=np.int64)
    duration = np.zeros(n, dtype=np.int64)
    u = rng.random((6, n))
    talk = np.clip(_lognormal(rng, 140, 0.9, n), 5, 3600).astype(np.int64)
    ring = _lognormal(rng, 9, 0.7, n)

    for t_index, number in enumerate(routing.telnums):
        on = np.flatnonzero(tel == t_index)
        if len(on) == 0:
            continue
        sched = np.array(number.schedule)
        opens, closes, holiday = sched[weekday[on], 0], sched[weekday[on], 1], sched[weekday[on], 2]
        in_hours = (holiday == 0) & (seconds[on] >= opens) & (seconds[on] < closes)
        if number.type == "user":
            direct = routing.directory.user(number.user)
            route_group[on] = direct.group_id if direct else ""
            answered = in_hours & (u[0, on] < 0.75) & bool(direct and direct.answers_calls)
            status[on] = np.where(answered, SUCCESS, MISSED)
            dest[on] = np.where(answered, D_USER, np.where(in_hours, D_VM, D_OFFTIME))
            login[on[answered]] = number.user
            wait[on] = np.where(answered, np.minimum(ring[on], 40), rng.integers(15, 40, len(on)))
            duration[on] = np.where(answered, talk[on], 0)
            continue
        menu = np.array([routing.group_index(g) for g in number.groups])
        chosen = menu[rng.integers(0, len(menu), size=len(on))]
        gidx[on] = chosen
        route_group[on] = np.array(routing.group_ids, dtype=object)[chosen]
        off = on[~in_hours]
        if number.duty_user:
            took = u[0, off] < 0.65
            status[off] = np.where(took, SUCCESS, MISSED)
            dest[off] = D_ONDUTY
            login[off[took]] = number.duty_user
            wait[off] = np.where(took, np.minimum(ring[off], 40), rng.integers(20, 45, len(off)))
            duration[off] = np.where(took, talk[off], 0)
        else:
            dest[off] = D_OFFTIME
            wait[off] = rng.integers(5, 25, len(off))
        hours = on[in_hours]
        if number.greeting:
            hello = hours[u[1, hours] < 0.02]
            dest[hello], status[hello] = D_HELLO, CANCEL
            wait[hello] = rng.integers(1, 8, len(hello))
            hours = hours[u[1, hours] >= 0.02]
        if number.type == "ivr":
            left = hours[u[2, hours] < 0.05]
            dest[left] = D_IVR
            status[left] = np.where(u[3, left] < 0.7, CANCEL, MISSED)
            wait[left] = rng.integers(8, 45, len(left))
            hours = hours[u[2, hours] >= 0.05]
        _to_departments(rng, routing, hours, gidx, u, ring, status, dest, login, wait)
        group[hours] = route_group[hours]
        duration[hours] = np.where(status[hours] == SUCCESS, talk[hours], duration[hours])
        vm = hours[dest[hours] == D_VM]
        duration[vm] = rng.integers(5, 40, len(vm))  # the message the client left

    rating = _ratings(rng, routing, status, dest, login)
    return _Outcome(status, dest, login, group, route_group, wait, duration, rating)


def _to_departments(
    rng: np.random.Generator,
    routing: Routing,
    calls: Array,
    gidx: Array,
    u: Array,
    ring: Array,
    status: Array,
    dest: Array,
    login: Array,
    wait: Array,
) -> None:
    """Calls that reach a department in working hours: answered, abandoned or timed out.

    Durations are filled in by the caller once the statuses are known."""
    for g in np.unique(gidx[calls]).tolist():
        mine = calls[gidx[calls] == g]
        timeout = int(routing.timeout_s[g])
        staffed = len(routing.answerers[g]) > 0
        p_answer = routing.answer_rate[g] if staffed else 0.0
        answered = u[4, mine] < p_answer
        took = mine[answered]
        status[took], dest[took] = SUCCESS, D_USER
        login[took] = _pick_weighted(rng, routing.answerers[g], routing.answerer_p[g], len(took))
        wait[took] = np.clip(ring[took], 1, timeout - 1).astype(np.int64)
        lost = mine[~answered]
        fate = u[5, lost]
        short, gave_up = fate < 0.3, (fate >= 0.3) & (fate < 0.65)
        timed_out = fate >= 0.65
        status[lost] = np.where(timed_out, MISSED, CANCEL)
        dest[lost] = np.where(timed_out & routing.voicemail[g], D_VM, D_GROUP)
        wait[lost] = np.where(
            short,
            rng.integers(0, SHORT_ABANDON_S, len(lost)),
            np.where(gave_up, rng.integers(SHORT_ABANDON_S, timeout, len(lost)), timeout),
        )


def _ratings(
    rng: np.random.Generator, routing: Routing, status: Array, dest: Array, login: Array
) -> Array:
    """1-5 for ~a quarter of answered calls, skewed high and shifted by the agent's quality."""
    n = len(status)
    answered = (status == SUCCESS) & ((dest == D_USER) | (dest == D_ONDUTY))
    rated = answered & (rng.random(n) < RATED_SHARE)
    quality = np.array([routing.quality.get(x, 0.0) for x in login[rated].tolist()])
    score = np.rint(4.25 + 0.55 * quality + rng.normal(0.0, 0.95, len(quality)))
    rating = np.zeros(n, dtype=np.int8)
    rating[rated] = np.clip(score, 1, 5).astype(np.int8)
    return rating


# --- the generator ----------------------------------------------------------------------------


class CallModel:
    """Generates and caches the call stream of one synthetic company."""

    def __init__(self, seed: int, agents: int, zone: ZoneInfo, timeline: Timeline) -> None:
        self.seed = seed
        self.agents = agents
        self.zone = zone
        self.timeline = timeline
        self.phones = PhoneBook(seed)
        self.client_pool = max(2000, agents * 200)
        self._directories: Lru[Directory] = Lru(64)
        self._routings: Lru[Routing] = Lru(16)
        self._primary: Lru[Batch] = Lru(16)
        self._followups: Lru[tuple[Batch, Batch]] = Lru(16)
        self._days: Lru[Batch] = Lru(16)
        self._internal: Lru[InternalBatch] = Lru(16)

    def directory(self, day: date) -> Directory:
        return self._directories.get_or_make(day, lambda: self.timeline.directory(day))

    def routing(self, day: date) -> Routing:
        return self._routings.get_or_make(day, lambda: Routing.of(self.directory(day)))

    def _clients(self, rng: np.random.Generator, n: int) -> Array:
        """Repeat callers: a skewed draw from the company's client pool."""
        index = np.floor(self.client_pool * rng.random(n) ** 3).astype(np.int64)
        return self.phones.numbers(index)

    def _volume(self, rng: np.random.Generator, day: date) -> float:
        staff = sum(1 for u in self.directory(day).users if u.group_id)
        noise = float(rng.lognormal(0.0, 0.08))
        return staff * CALLS_PER_AGENT * WEEKDAY_VOLUME[day.weekday()] * noise

    # primary calls ------------------------------------------------------------------------

    def primary(self, day: date) -> Batch:
        return self._primary.get_or_make(day, lambda: self._make_primary(day))

    def _make_primary(self, day: date) -> Batch:
        if day < FIRST_DAY:
            return _empty_batch()
        rng = generator(self.seed, Purpose.PRIMARY, day_number(day))
        routing = self.routing(day)
        total = int(rng.poisson(self._volume(rng, day)))
        n_in = int(rng.binomial(total, INBOUND_SHARE))
        n_out = total - n_in
        seconds_in = _seconds_in_hours(rng, INBOUND_HOURS, n_in)
        tel = rng.choice(len(routing.telnums), size=n_in, p=routing.telnum_p)
        weekday = np.full(n_in, day.weekday())
        inbound = route_inbound(rng, routing, tel, weekday, seconds_in)
        seconds_out = _seconds_in_hours(rng, OUTBOUND_HOURS, n_out)
        out = self._outbound(rng, routing, n_out)
        start = _to_utc(day, self.zone, np.concatenate([seconds_in, seconds_out]))
        order = np.argsort(start, kind="stable")
        n = total
        batch = Batch(
            ordinal=np.zeros(n, dtype=np.int64),
            start=start,
            inbound=np.arange(n) < n_in,
            status=np.concatenate([inbound.status, out["status"]]),
            destination=np.concatenate([inbound.destination, np.zeros(n_out, np.int8)]),
            client=self._clients(rng, n),
            diversion=np.concatenate(
                [np.array([t.telnum for t in routing.telnums], dtype=object)[tel], out["line"]]
            ),
            login=np.concatenate([inbound.login, out["login"]]),
            group=np.concatenate([inbound.group, np.full(n_out, "", dtype=object)]),
            route_group=np.concatenate([inbound.route_group, out["group"]]),
            telnum=np.concatenate([tel, np.full(n_out, -1)]).astype(np.int32),
            wait=np.concatenate([inbound.wait, out["wait"]]).astype(np.int32),
            duration=np.concatenate([inbound.duration, out["duration"]]).astype(np.int32),
            rating=np.concatenate([inbound.rating, np.zeros(n_out, np.int8)]),
            kind=np.full(n, PRIMARY, dtype=np.int8),
            origin=np.full(n, -1, dtype=np.int64),
            callback_at=np.full(n, NO_TIME, dtype=np.int64),
            callback_attempts=np.zeros(n, dtype=np.int8),
            callback_success_at=np.full(n, NO_TIME, dtype=np.int64),
            client_again_at=np.full(n, NO_TIME, dtype=np.int64),
        ).take(order)
        ordinals = day_number(day) * DAY_SLOTS + PRIMARY_BASE + np.arange(n, dtype=np.int64)
        return dataclasses.replace(batch, ordinal=ordinals)

    def _outbound(self, rng: np.random.Generator, routing: Routing, n: int) -> dict[str, Array]:
        who = rng.choice(len(routing.callers), size=n, p=routing.caller_p)
        status = rng.choice(len(STATUSES), size=n, p=OUTBOUND_STATUS_P).astype(np.int8)
        ring = np.clip(_lognormal(rng, 11, 0.6, n), 2, 60)
        wait = np.select(
            [status == SUCCESS, status == MISSED, status == BUSY, status == CANCEL],
            [ring, rng.integers(30, 60, n), rng.integers(1, 6, n), rng.integers(3, 25, n)],
            default=rng.integers(0, 10, n),
        )
        talk = np.clip(_lognormal(rng, 100, 1.0, n), 3, 3600)
        directory = routing.directory
        groups = np.array(
            [u.group_id if (u := directory.user(x)) else "" for x in routing.callers], dtype=object
        )
        return {
            "status": status,
            "login": routing.callers[who],
            "line": routing.caller_line[who],
            "group": groups[who],
            "wait": wait.astype(np.int64),
            "duration": np.where(status == SUCCESS, talk, 0).astype(np.int64),
        }

    # follow-ups ---------------------------------------------------------------------------

    def followups(self, day: date) -> Batch:
        """Callbacks and repeat calls caused by ``day``'s misses (wherever they land)."""
        return self._followups.get_or_make(day, lambda: self._make_followups(day))[0]

    def primary_with_intents(self, day: date) -> Batch:
        """``day``'s primary calls with the follow-up intents filled in on its misses."""
        return self._followups.get_or_make(day, lambda: self._make_followups(day))[1]

    def _make_followups(self, day: date) -> tuple[Batch, Batch]:
        primary = self.primary(day)
        if len(primary) == 0:
            return _empty_batch(), primary
        rng = generator(self.seed, Purpose.FOLLOWUP, day_number(day))
        routing = self.routing(day)
        misses = np.flatnonzero(primary.inbound & (primary.status != SUCCESS))
        horizon = int(day_window(day + timedelta(days=FOLLOWUP_DAYS), self.zone).end.timestamp())
        plan = _FollowupPlan(rng, routing, primary, misses, self.zone, horizon)
        plan.callbacks()
        plan.clients_again()
        followups = plan.batch(day_number(day) * DAY_SLOTS + FOLLOWUP_BASE)
        return followups, plan.primary_with_intents()

    # a local day --------------------------------------------------------------------------

    def day(self, day: date) -> Batch:
        """Every external call that starts on local ``day``, oldest first."""
        return self._days.get_or_make(day, lambda: self._make_day(day))

    def _make_day(self, day: date) -> Batch:
        window = day_window(day, self.zone)
        lo, hi = int(window.start.timestamp()), int(window.end.timestamp())
        parts = [self.primary_with_intents(day)]
        for back in range(FOLLOWUP_DAYS, -1, -1):
            extra = self.followups(day - timedelta(days=back))
            parts.append(extra.take(np.flatnonzero((extra.start >= lo) & (extra.start < hi))))
        batch = Batch.concat(parts)
        batch = batch.take(np.lexsort((batch.ordinal, batch.start)))
        return self._keep_agents_of(day, batch)

    def _keep_agents_of(self, day: date, batch: Batch) -> Batch:
        """A follow-up planned for an agent who has left by ``day`` goes to a colleague."""
        routing = self.routing(day)
        present = set(routing.quality)
        gone = np.flatnonzero(
            (batch.kind != PRIMARY)
            & np.array([x != "" and x not in present for x in batch.login.tolist()], dtype=bool)
        )
        if len(gone) == 0:
            return batch
        login = batch.login.copy()
        for i in gone.tolist():
            g = routing.group_index(str(batch.route_group[i]))
            pool = routing.answerers[g] if g >= 0 and len(routing.answerers[g]) else None
            if pool is None:
                pool = routing.callers
            login[i] = pool[int(batch.ordinal[i]) % len(pool)]
        return dataclasses.replace(batch, login=login)

    # internal calls -----------------------------------------------------------------------

    def internal(self, day: date) -> InternalBatch:
        return self._internal.get_or_make(day, lambda: self._make_internal(day))

    def _make_internal(self, day: date) -> InternalBatch:
        rng = generator(self.seed, Purpose.INTERNAL, max(0, day_number(day)))
        directory = self.directory(day)
        users = directory.users
        n = 0 if day < FIRST_DAY else int(rng.poisson(self._volume(rng, day) * INTERNAL_SHARE))
        logins = np.array([u.login for u in users], dtype=object)
        caller = rng.integers(0, len(users), n)
        callee = (caller + rng.integers(1, len(users), n)) % len(users)  # never oneself
        unavailable = np.array([not u.answers_calls for u in users])[callee]
        status = np.where(unavailable | (rng.random(n) < 0.15), 1, 0).astype(np.int8)
        start = _to_utc(day, self.zone, _seconds_in_hours(rng, OUTBOUND_HOURS, n))
        wait = np.where(
            status == 0,
            np.clip(_lognormal(rng, 6, 0.6, n), 1, 30),
            rng.integers(10, 31, n),
        ).astype(np.int32)
        duration = np.where(status == 0, np.clip(_lognormal(rng, 60, 1.0, n), 2, 3600), 0)
        recorded = (status == 0) & (rng.random(n) < 0.3)
        order = np.argsort(start, kind="stable")
        ordinals = day_number(day) * DAY_SLOTS + INTERNAL_BASE + np.arange(n, dtype=np.int64)
        return InternalBatch(
            ordinal=ordinals,
            start=start[order],
            status=status[order],
            caller=logins[caller][order],
            callee=logins[callee][order],
            wait=wait[order],
            duration=duration.astype(np.int32)[order],
            recorded=recorded[order],
        )


class _FollowupPlan:
    """Decides, for one day's misses, the callbacks and repeat calls that follow them."""

    def __init__(
        self,
        rng: np.random.Generator,
        routing: Routing,
        primary: Batch,
        misses: Array,
        zone: ZoneInfo,
        horizon: int,
    ) -> None:
        self.rng, self.routing, self.primary, self.misses = rng, routing, primary, misses
        self.zone, self.horizon = zone, horizon
        n = len(primary)
        self.callback_at = np.full(n, NO_TIME, dtype=np.int64)
        self.callback_attempts = np.zeros(n, dtype=np.int8)
        self.callback_success_at = np.full(n, NO_TIME, dtype=np.int64)
        self.client_again_at = np.full(n, NO_TIME, dtype=np.int64)
        self.rows: list[dict[str, Any]] = []
        self.again_rows: list[tuple[int, int]] = []  # (miss index, start)

    def _ends(self) -> Array:
        p = self.primary
        return (p.start + p.wait + p.duration)[self.misses]

    def callbacks(self) -> None:
        """Agents call missed clients back: tens of minutes typically, next morning after
        hours, a few over a day later, some never; failed attempts are retried (up to 3)."""
        rng, p, misses = self.rng, self.primary, self.misses
        m = len(misses)
        groups = [self.routing.group_index(str(g)) for g in p.route_group[misses].tolist()]
        rate = np.array([self.routing.callback_rate[g] if g >= 0 else 0.7 for g in groups])
        short = p.wait[misses] < SHORT_ABANDON_S
        planned = rng.random(m) < np.where(short, rate * 0.6, rate)
        first_delay = _lognormal(rng, 15 * 60, 1.1, m)
        late = rng.random(m) < 0.08
        first_delay += np.where(late, rng.uniform(86_400, 144_000, m), 0)
        retry_delay = _lognormal(rng, 45 * 60, 0.8, (m, 3))
        morning = rng.exponential(50 * 60, (m, 3)).astype(np.int64)
        success = rng.random((m, 3)) < np.array([0.7, 0.65, 0.6])
        fail_status = rng.choice([MISSED, BUSY, NOTAVAILABLE], size=(m, 3), p=[0.6, 0.2, 0.2])
        rings = rng.integers(15, 45, (m, 3))
        talk = np.clip(_lognormal(rng, 120, 0.9, (m, 3)), 10, 3600).astype(np.int64)
        ends = self._ends()
        for j in np.flatnonzero(planned).tolist():
            i = int(misses[j])
            agent = self._agent(groups[j], int(p.ordinal[i]))
            at = _next_business(int(ends[j] + first_delay[j]), self.zone, int(morning[j, 0]))
            for attempt in range(3):
                if at >= self.horizon:
                    break
                ok = bool(success[j, attempt])
                self._record_attempt(i, attempt, at, ok)
                self.rows.append(
                    {
                        "start": at, "kind": CALLBACK, "miss": i, "login": agent,
                        "status": SUCCESS if ok else int(fail_status[j, attempt]),
                        "wait": int(rings[j, attempt]) if not ok else int(rings[j, attempt]) // 2,
                        "duration": int(talk[j, attempt]) if ok else 0,
                    }
                )  # fmt: skip
                if ok:
                    break
                nxt = at + int(rings[j, attempt]) + int(retry_delay[j, attempt])
                at = _next_business(nxt, self.zone, int(morning[j, min(attempt + 1, 2)]))

    def _record_attempt(self, i: int, attempt: int, at: int, ok: bool) -> None:
        if attempt == 0:
            self.callback_at[i] = at
        self.callback_attempts[i] = attempt + 1
        if ok:
            self.callback_success_at[i] = at

    def _agent(self, group: int, salt: int) -> str:
        routing = self.routing
        pool = routing.answerers[group] if group >= 0 else routing.callers
        if len(pool) == 0:
            pool = routing.callers
        return str(pool[salt % len(pool)])

    def clients_again(self) -> None:
        """Some clients call again themselves, usually within the hour, rarely at night."""
        rng, misses = self.rng, self.misses
        m = len(misses)
        again = rng.random(m) < 0.28
        delay = _lognormal(rng, 20 * 60, 1.4, m)
        at = (self._ends() + delay).astype(np.int64)
        _, seconds = _local_parts(at, self.zone)
        night = seconds < 8 * 3600
        at = np.where(night, at - seconds + 8 * 3600 + rng.integers(0, 7200, m), at)
        keep = again & (at < self.horizon)
        self.again_rows = list(zip(misses[keep].tolist(), at[keep].tolist(), strict=True))
        self.client_again_at[misses[keep]] = at[keep]

    def batch(self, first_ordinal: int) -> Batch:
        callbacks = self._callback_batch()
        again = self._again_batch()
        merged = Batch.concat([callbacks, again])
        merged = merged.take(np.argsort(merged.start, kind="stable"))
        ordinal = first_ordinal + np.arange(len(merged), dtype=np.int64)
        return dataclasses.replace(merged, ordinal=ordinal)

    def _callback_batch(self) -> Batch:
        p, rows = self.primary, self.rows
        if not rows:
            return _empty_batch()
        miss = np.array([r["miss"] for r in rows], dtype=np.int64)
        n = len(rows)
        status = np.array([r["status"] for r in rows], dtype=np.int8)
        line = self.routing.directory.main_telnum.telnum
        return Batch(
            ordinal=np.zeros(n, dtype=np.int64),
            start=np.array([r["start"] for r in rows], dtype=np.int64),
            inbound=np.zeros(n, dtype=bool),
            status=status,
            destination=np.zeros(n, dtype=np.int8),
            client=p.client[miss],
            diversion=np.full(n, line, dtype=object),
            login=np.array([r["login"] for r in rows], dtype=object),
            group=np.full(n, "", dtype=object),
            route_group=p.route_group[miss],
            telnum=np.full(n, -1, dtype=np.int32),
            wait=np.array([r["wait"] for r in rows], dtype=np.int32),
            duration=np.array([r["duration"] for r in rows], dtype=np.int32),
            rating=np.zeros(n, dtype=np.int8),
            kind=np.full(n, CALLBACK, dtype=np.int8),
            origin=p.ordinal[miss],
            callback_at=np.full(n, NO_TIME, dtype=np.int64),
            callback_attempts=np.zeros(n, dtype=np.int8),
            callback_success_at=np.full(n, NO_TIME, dtype=np.int64),
            client_again_at=np.full(n, NO_TIME, dtype=np.int64),
        )

    def _again_batch(self) -> Batch:
        p = self.primary
        if not self.again_rows:
            return _empty_batch()
        miss = np.array([m for m, _ in self.again_rows], dtype=np.int64)
        start = np.array([t for _, t in self.again_rows], dtype=np.int64)
        n = len(miss)
        weekday, seconds = _local_parts(start, self.zone)
        tel = p.telnum[miss]
        outcome = route_inbound(self.rng, self.routing, tel, weekday, seconds)
        return Batch(
            ordinal=np.zeros(n, dtype=np.int64),
            start=start,
            inbound=np.ones(n, dtype=bool),
            status=outcome.status,
            destination=outcome.destination,
            client=p.client[miss],
            diversion=p.diversion[miss],
            login=outcome.login,
            group=outcome.group,
            route_group=outcome.route_group,
            telnum=tel,
            wait=outcome.wait.astype(np.int32),
            duration=outcome.duration.astype(np.int32),
            rating=outcome.rating,
            kind=np.full(n, CLIENT_AGAIN, dtype=np.int8),
            origin=p.ordinal[miss],
            callback_at=np.full(n, NO_TIME, dtype=np.int64),
            callback_attempts=np.zeros(n, dtype=np.int8),
            callback_success_at=np.full(n, NO_TIME, dtype=np.int64),
            client_again_at=np.full(n, NO_TIME, dtype=np.int64),
        )

    def primary_with_intents(self) -> Batch:
        return dataclasses.replace(
            self.primary,
            callback_at=self.callback_at,
            callback_attempts=self.callback_attempts,
            callback_success_at=self.callback_success_at,
            client_again_at=self.client_again_at,
        )
