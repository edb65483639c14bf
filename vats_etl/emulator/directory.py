"""The synthetic company and how it changes: a pure function of ``(seed, date)``.

The company is founded on :data:`EPOCH` (earlier dates see the founding state). Every week
after that brings a few changes, each effective from the start of a weekday: employees move
between departments, leave (and vanish from ``/users``) or are hired, change surname, role
or position, toggle DND or their subscription to their department; a number is re-routed to
another department; numbers are blacklisted. A week's changes are drawn from
``(seed, week)`` and the state at the start of that week, so the state on any date is found
by replaying weeks from the epoch; week starts are memoised, so this happens once.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from vats_etl.emulator import names
from vats_etl.emulator.rng import Purpose, generator, int_hash
from vats_etl.periods import week_start

EPOCH = date(2020, 1, 6)  # a Monday: the company's founding day
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DOMAINS = ("romashka", "vektor", "alfatrade", "severstroy", "medtechnika", "avtoline")
_OFFICE_HOURS = (32_400, 64_800)  # 09:00-18:00, in seconds after local midnight
_LONG_HOURS = (28_800, 72_000)  # 08:00-20:00
_SATURDAY_HOURS = (36_000, 57_600)  # 10:00-16:00

T = TypeVar("T")
Schedule = tuple[tuple[int, int, bool], ...]  # (start_s, end_s, holiday) Monday..Sunday


@dataclass(frozen=True, slots=True)
class User:
    login: str
    name: str
    position: str
    ext: str
    telnum: str
    email: str
    role: str
    mobile: str
    redirect_enabled: bool
    redirect_forward: bool
    redirect_delay: int
    group_id: str  # the employee's department; "" for staff outside departments
    calls_enable: bool  # subscription: takes the department's calls
    dnd: bool
    female: bool
    activity: float  # relative call volume (hidden trait)
    quality: float  # shifts the ratings clients give (hidden trait)

    @property
    def answers_calls(self) -> bool:
        return self.calls_enable and not self.dnd


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    ext: str
    call_order: str
    call_duration: int
    timeout_time: int
    timeout_target: str  # voicemail | user
    timeout_user: str
    advanced: str
    answer_rate: float  # hidden: share of in-hours calls the department answers
    outbound_share: float  # hidden: how much of its work is calling out
    callback_rate: float  # hidden: share of missed clients it calls back


@dataclass(frozen=True, slots=True)
class Telnum:
    telnum: str
    type: str  # user | group | ivr | scheduler
    greeting: bool
    greeting_custom: bool
    is_main_phone: bool
    location: str
    user: str  # login for type user
    groups: tuple[str, ...]  # the department, or the IVR menu's departments by button
    duty_user: str  # login on duty out of hours ("" plays the off-time message)
    schedule: Schedule
    weight: float  # hidden: share of inbound calls dialled to this number


@dataclass(frozen=True, slots=True)
class Sim:
    telnum: str
    user: str
    company: bool
    autocaller: bool
    disabled: bool
    calltracking: str
    abc_telnum: str
    abc_location: str


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    telnum: str
    comment: str


@dataclass(frozen=True)
class Directory:
    """The company as the API shows it on one local date."""

    as_of: date
    domain: str
    users: tuple[User, ...]
    groups: tuple[Group, ...]
    telnums: tuple[Telnum, ...]
    sims: tuple[Sim, ...]
    blacklist: tuple[BlacklistEntry, ...]
    block_anonymous: bool

    @cached_property
    def _by_login(self) -> dict[str, User]:
        found = {u.login: u for u in self.users}
        found.update({u.ext: u for u in self.users if u.ext not in found})
        return found

    @cached_property
    def _groups_by_id(self) -> dict[str, Group]:
        return {g.id: g for g in self.groups}

    @cached_property
    def _members(self) -> dict[str, tuple[User, ...]]:
        members: dict[str, list[User]] = {g.id: [] for g in self.groups}
        for user in self.users:
            if user.group_id in members:
                members[user.group_id].append(user)
        return {gid: tuple(users) for gid, users in members.items()}

    @cached_property
    def names(self) -> dict[str, str]:
        """login → full name."""
        return {u.login: u.name for u in self.users}

    @cached_property
    def group_names(self) -> dict[str, str]:
        return {g.id: g.name for g in self.groups}

    @cached_property
    def dnd(self) -> dict[str, bool]:
        """login → DND on (the employee takes no calls)."""
        return {u.login: u.dnd for u in self.users}

    def user(self, login_or_ext: str) -> User | None:
        return self._by_login.get(login_or_ext)

    def group(self, group_id: str) -> Group | None:
        return self._groups_by_id.get(group_id)

    def members(self, group_id: str) -> tuple[User, ...]:
        return self._members.get(group_id, ())

    def telnum(self, number: str) -> Telnum | None:
        return next((t for t in self.telnums if t.telnum == number), None)

    def sim(self, number: str) -> Sim | None:
        return next((s for s in self.sims if s.telnum == number), None)

    @cached_property
    def main_telnum(self) -> Telnum:
        return next(t for t in self.telnums if t.is_main_phone)


# --- API payloads (spec sections 6, 8, 9, 10, 11) -------------------------------------------


def user_payload(user: User) -> dict[str, Any]:
    redirect: dict[str, Any] = {"enabled": user.redirect_enabled}
    if user.redirect_enabled:
        redirect |= {"forward": user.redirect_forward, "delay": user.redirect_delay}
    return {
        "login": user.login,
        "name": user.name,
        "position": user.position,
        "ext": user.ext,
        "telnum": user.telnum,
        "email": user.email,
        "role": user.role,
        "mobile": user.mobile,
        "mobile_redirect": redirect,
    }


def group_payload(directory: Directory, group: Group) -> dict[str, Any]:
    timeout: dict[str, Any] = {"time": group.timeout_time, "target": group.timeout_target}
    if group.timeout_target == "user":
        timeout["user"] = group.timeout_user
    return {
        "id": group.id,
        "name": group.name,
        "ext": group.ext,
        "call_order": group.call_order,
        "call_duration": group.call_duration,
        "users": [
            {"login": u.login, "name": u.name, "calls_enable": u.calls_enable}
            for u in directory.members(group.id)
        ],
        "timeout": timeout,
        "advanced": group.advanced,
    }


def group_brief(group: Group) -> dict[str, Any]:
    """One department in ``GET /users/{login}/groups`` (spec 6.6)."""
    return {"id": group.id, "name": group.name, "ext": group.ext}


def schedule_payload(schedule: Schedule) -> dict[str, Any]:
    return {
        day: {"start": start, "end": end, "holiday": holiday}
        for day, (start, end, holiday) in zip(WEEKDAYS, schedule, strict=True)
    }


def telnum_payload(directory: Directory, telnum: Telnum) -> dict[str, Any]:
    body: dict[str, Any] = {
        "telnum": telnum.telnum,
        "type": telnum.type,
        "greeting": telnum.greeting,
        "is_main_phone": telnum.is_main_phone,
        "location": telnum.location,
        "disabled": False,
        "crm": "",
        "calltracking": "",
        "abc_telnum": "",
        "abc_location": "",
        "greeting_custom": telnum.greeting_custom,
    }
    if telnum.type == "user":
        body |= {"user": telnum.user, "user_name": directory.names.get(telnum.user, "")}
    elif telnum.type == "group":
        gid = telnum.groups[0]
        body |= {"group": gid, "group_name": directory.group_names.get(gid, "")}
    elif telnum.type == "ivr":
        items = [
            {"button": str(i + 1), "type": "group", "group": gid}
            for i, gid in enumerate(telnum.groups)
        ]
        items.append({"button": "timeout", "type": "group", "group": telnum.groups[0]})
        body["ivr"] = {
            "name": "Главное меню",
            "greeting": True,
            "greeting_custom": telnum.greeting_custom,
            "items": items,
        }
    else:
        body["work"] = {"type": "group", "group": telnum.groups[0], "greeting": False}
        body["other"] = (
            {"type": "onduty", "subtype": "user", "user": telnum.duty_user, "greeting": True}
            if telnum.duty_user
            else {"type": "offtime", "greeting": True}
        )
    body["schedule"] = schedule_payload(telnum.schedule)
    return body


def sim_payload(directory: Directory, sim: Sim) -> dict[str, Any]:
    return {
        "telnum": sim.telnum,
        "user": sim.user,
        "user_name": directory.names.get(sim.user, ""),
        "company": sim.company,
        "autocaller": sim.autocaller,
        "disabled": sim.disabled,
        "calltracking": sim.calltracking,
        "abc_telnum": sim.abc_telnum,
        "abc_location": sim.abc_location,
    }


def blacklist_payload(
    seed: int, as_of: date, entry: BlacklistEntry, with_statistics: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"telnum": entry.telnum, "comment": entry.comment}
    if with_statistics:
        year_calls = int_hash(seed, entry.telnum, as_of.year) % 40
        iso = as_of.isocalendar()
        week_calls = min(year_calls, int_hash(seed, entry.telnum, iso.year, iso.week) % 4)
        body |= {"week": week_calls, "year": year_calls}
    return body


# --- founding ----------------------------------------------------------------------------------


@dataclass
class _State:
    """The mutable company while weeks are replayed; copied before each week is applied."""

    users: dict[str, User]
    groups: dict[str, Group]
    telnums: dict[str, Telnum]
    sims: tuple[Sim, ...]
    blacklist: tuple[BlacklistEntry, ...]
    block_anonymous: bool
    used_logins: frozenset[str]
    ext_pool: tuple[str, ...]  # every ext the numbering plan allows, in order
    domain: str
    founded_agents: int

    def copy(self) -> _State:
        return dataclasses.replace(
            self, users=dict(self.users), groups=dict(self.groups), telnums=dict(self.telnums)
        )

    def free_exts(self) -> Iterator[str]:
        """Unused extensions, lowest first ("Выбирается из свободных", spec 6.3)."""
        used = {u.ext for u in self.users.values()} | {g.ext for g in self.groups.values()}
        return (e for e in self.ext_pool if e not in used)


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One element, uniformly (much cheaper than ``rng.choice`` on a Python sequence)."""
    return options[int(rng.integers(len(options)))]


def _digits(rng: np.random.Generator, count: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=count).tolist())


def _pick_person(rng: np.random.Generator) -> tuple[str, str, bool]:
    """(surname as displayed, full name, female)."""
    female = bool(rng.random() < 0.55)
    surname = _pick(rng, names.SURNAMES)
    first = _pick(rng, names.FEMALE_FIRST if female else names.MALE_FIRST)
    father = _pick(rng, names.FATHERS)
    shown = names.feminine_surname(surname) if female else surname
    return shown, names.full_name(surname, first, father, female), female


def _login_for(rng: np.random.Generator, surname: str, full: str, ext: str, used: set[str]) -> str:
    """Half the logins are the default ``u<ext>``, the rest transliterated surnames."""
    if rng.random() < 0.5 and f"u{ext}" not in used:
        return f"u{ext}"
    base = names.translit(surname).replace("'", "")
    initial = names.translit(full.split()[1])[:1]
    for candidate in (base, f"{base}.{initial}", f"{base}{ext}"):
        if candidate not in used:
            return candidate
    return f"u{ext}"


def _make_user(
    rng: np.random.Generator,
    *,
    ext: str,
    group_id: str,
    position: str,
    role: str,
    domain: str,
    used: set[str],
    login: str | None = None,
    person: tuple[str, str, bool] | None = None,
) -> User:
    surname, full, female = person or _pick_person(rng)
    login = login or _login_for(rng, surname, full, ext, used)
    has_mobile = rng.random() < 0.7
    redirect = bool(has_mobile and rng.random() < 0.3)
    first = names.translit(full.split()[1])
    return User(
        login=login,
        name=full,
        position=position,
        ext=ext,
        telnum="",
        email=f"{first}.{names.translit(surname)}@{domain}" if rng.random() < 0.85 else "",
        role=role,
        mobile=f"79{_digits(rng, 9)}" if has_mobile else "",
        redirect_enabled=redirect,
        redirect_forward=bool(rng.random() < 0.3),
        redirect_delay=_pick(rng, [0, 5, 10, 15]),
        group_id=group_id,
        calls_enable=bool(rng.random() < 0.95),
        dnd=bool(rng.random() < 0.03),
        female=female,
        activity=float(rng.lognormal(0.0, 0.35)),
        quality=float(rng.normal(0.0, 1.0)),
    )


def _schedule(hours: tuple[int, int], saturday: bool) -> Schedule:
    weekday = (hours[0], hours[1], False)
    sat = (*_SATURDAY_HOURS, False) if saturday else (0, 0, True)
    return (weekday,) * 5 + (sat, (0, 0, True))


def _ext_pool(agents: int, group_count: int) -> tuple[str, ...]:
    """3-digit 7xx numbers while they suffice (with room for hires), else 4-digit."""
    if agents + group_count + 10 <= 300:
        return tuple(str(n) for n in range(700, 1000))
    return tuple(str(n) for n in range(7000, 10000))


def _found_groups(rng: np.random.Generator, count: int, pool: tuple[str, ...]) -> list[Group]:
    groups = []
    for i, (fixed_id, name) in enumerate(names.DEPARTMENTS[:count]):
        gid = fixed_id or f"g_{uuid.UUID(bytes=rng.bytes(16), version=4)}"
        order = _pick(rng, ["ALL", "EVENLY", "BYORDER", "WATERFALL"])
        groups.append(
            Group(
                id=gid,
                name=name,
                ext=pool[0] if i == 0 else "",  # the rest get free numbers after the users
                call_order=order,
                call_duration=0 if order == "ALL" else _pick(rng, [5, 10, 15, 20, 25, 30]),
                timeout_time=_pick(rng, [30, 60, 60, 120]),
                timeout_target="voicemail" if rng.random() < 0.6 else "user",
                timeout_user="",
                advanced=_pick(rng, ["off", "off", "msg_busy", "callback"]),
                answer_rate=float(rng.uniform(0.85, 0.95)),
                outbound_share=0.6 if gid == "sales" else float(rng.uniform(0.25, 0.5)),
                callback_rate=float(rng.uniform(0.65, 0.9)),
            )
        )
    return groups


def found_company(seed: int, agents: int) -> _State:
    """The company on its founding day."""
    rng = generator(seed, Purpose.COMPANY)
    group_count = max(2, min(len(names.DEPARTMENTS), round(agents / 18)))
    pool = _ext_pool(agents, group_count)
    domain = f"{_DOMAINS[seed % len(_DOMAINS)]}.ru"
    groups = _found_groups(rng, group_count, pool)
    weights = np.concatenate([[3.0, 2.5], rng.uniform(0.5, 1.5, size=group_count - 2)])
    staff = agents - 2
    sizes = np.maximum(1, np.floor(weights / weights.sum() * staff)).astype(int)
    sizes[0] += staff - int(sizes.sum())  # the rounding remainder joins sales

    used: set[str] = set()
    users: list[User] = []
    ext_iter = iter(pool[1:])
    for login, position in (("admin", "Администратор"), ("director", "Директор")):
        user = _make_user(
            rng, ext=next(ext_iter), group_id="", position=position, role="admin",
            domain=domain, used=used, login=login,
        )  # fmt: skip
        users.append(dataclasses.replace(user, calls_enable=True, dnd=False))
        used.add(login)
    for group, size in zip(groups, sizes.tolist(), strict=True):
        for k in range(size):
            head = k == 0
            role = "admin" if head and rng.random() < 0.5 else "user"
            if not head and group.id == "support" and rng.random() < 0.2:
                role = "restricted_user"
            position = names.HEAD_POSITION if head else _pick(rng, names.POSITIONS)
            user = _make_user(
                rng, ext=next(ext_iter), group_id=group.id, position=position, role=role,
                domain=domain, used=used,
            )  # fmt: skip
            users.append(user)
            used.add(user.login)
    groups = [g if g.ext else dataclasses.replace(g, ext=next(ext_iter)) for g in groups]
    groups = [_with_timeout_user(rng, g, users) for g in groups]
    telnums, users = _found_telnums(rng, groups, users)
    state = _State(
        users={u.login: u for u in users},
        groups={g.id: g for g in groups},
        telnums={t.telnum: t for t in telnums},
        sims=_found_sims(rng, users),
        blacklist=tuple(_blacklist_entry(rng) for _ in range(int(rng.integers(3, 7)))),
        block_anonymous=bool(rng.random() < 0.5),
        used_logins=frozenset(used),
        ext_pool=pool,
        domain=domain,
        founded_agents=agents,
    )
    return state


def _with_timeout_user(rng: np.random.Generator, group: Group, users: list[User]) -> Group:
    if group.timeout_target != "user":
        return group
    members = [u.login for u in users if u.group_id == group.id]
    return dataclasses.replace(group, timeout_user=_pick(rng, members))


def _found_telnums(
    rng: np.random.Generator, groups: list[Group], users: list[User]
) -> tuple[list[Telnum], list[User]]:
    """Main IVR number, one number per department, 8-800, some direct lines."""
    taken: set[str] = set()

    def number(prefix: str) -> str:
        while True:
            candidate = prefix + _digits(rng, 11 - len(prefix))
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    menu = tuple(g.id for g in groups[: min(5, len(groups))])
    telnums = [
        Telnum(
            telnum=number("7495"), type="ivr", greeting=True, greeting_custom=True,
            is_main_phone=True, location="Москва", user="", groups=menu, duty_user="",
            schedule=_schedule((32_400, 68_400), saturday=False), weight=4.0,
        )
    ]  # fmt: skip
    support = next((g for g in groups if g.id == "support"), groups[-1])
    for group in groups:
        members = [u.login for u in users if u.group_id == group.id]
        long_hours = group.id == "support"
        scheduler = rng.random() < 0.4
        telnums.append(
            Telnum(
                telnum=number("7499"),
                type="scheduler" if scheduler else "group",
                greeting=bool(rng.random() < 0.5),
                greeting_custom=False,
                is_main_phone=False,
                location=_pick(rng, names.LOCATIONS),
                user="",
                groups=(group.id,),
                duty_user=_pick(rng, members) if scheduler and rng.random() < 0.5 else "",
                schedule=_schedule(_LONG_HOURS if long_hours else _OFFICE_HOURS, long_hours),
                weight=0.4 * len(members) ** 0.5,
            )
        )
    telnums.append(
        Telnum(
            telnum=number("78005"), type="group", greeting=True, greeting_custom=False,
            is_main_phone=False, location="Россия", user="", groups=(support.id,), duty_user="",
            schedule=_schedule(_LONG_HOURS, saturday=True), weight=1.0,
        )
    )  # fmt: skip
    direct = [u for u in users if u.group_id and rng.random() < 0.1]
    with_lines = {}
    for user in direct:
        line = number("7495")
        with_lines[user.login] = line
        telnums.append(
            Telnum(
                telnum=line, type="user", greeting=False, greeting_custom=False,
                is_main_phone=False, location="Москва", user=user.login, groups=(),
                duty_user="", schedule=_schedule(_OFFICE_HOURS, False), weight=0.08,
            )
        )  # fmt: skip
    users = [
        dataclasses.replace(u, telnum=with_lines[u.login]) if u.login in with_lines else u
        for u in users
    ]
    return telnums, users


def _found_sims(rng: np.random.Generator, users: list[User]) -> tuple[Sim, ...]:
    sims = []
    for _ in range(max(1, len(users) // 25)):
        company = bool(rng.random() < 0.3)
        tracking = bool(rng.random() < 0.2)
        sims.append(
            Sim(
                telnum=f"792{_digits(rng, 8)}",
                user="" if company else _pick(rng, [u.login for u in users]),
                company=company,
                autocaller=bool(rng.random() < 0.1),
                disabled=bool(rng.random() < 0.05),
                calltracking="roistat" if tracking else "",
                abc_telnum=f"7495{_digits(rng, 7)}" if tracking else "",
                abc_location="Москва" if tracking else "",
            )
        )
    return tuple(sims)


def _blacklist_entry(rng: np.random.Generator) -> BlacklistEntry:
    number = f"7900800{_digits(rng, 1)}*" if rng.random() < 0.2 else f"79{_digits(rng, 9)}"
    return BlacklistEntry(number, _pick(rng, names.BLACKLIST_COMMENTS))


# --- weekly changes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One directory change, effective from the start of ``weekday`` of its week."""

    weekday: int
    kind: str  # move | leave | hire | rename | promote | reroute | blacklist | dnd | subscribe
    #            | anonymous
    login: str = ""
    user: User | None = None
    group_id: str = ""
    telnum: str = ""
    text: str = ""
    entry: BlacklistEntry | None = None


def _week_changes(rng: np.random.Generator, state: _State) -> list[Change]:
    """The changes of one week, drawn from the state at the week's start."""
    agents = state.founded_agents
    staff = [u for u in state.users.values() if u.group_id]
    logins = [u.login for u in staff]
    group_ids = list(state.groups)
    changes: list[Change] = []

    def day() -> int:
        return int(rng.integers(0, 5))

    for _ in range(int(rng.poisson(max(0.6, agents / 120)))):
        user = staff[int(rng.integers(len(staff)))]
        target = _pick(rng, [g for g in group_ids if g != user.group_id])
        changes.append(Change(day(), "move", login=user.login, group_id=target))
    leavers = int(rng.poisson(agents / 250))
    for _ in range(leavers):
        changes.append(Change(day(), "leave", login=_pick(rng, logins)))
    hires = int(rng.poisson(agents / 250))
    headcount = len(state.users)
    if headcount < agents - 2:
        hires += 1
    elif headcount > agents + 2:
        hires = 0
    used = set(state.used_logins)
    free = state.free_exts()
    for _ in range(hires):
        ext = next(free)
        gid = _pick(rng, group_ids)
        user = _make_user(
            rng, ext=ext, group_id=gid, position=names.POSITIONS[0], role="user",
            domain=state.domain, used=used,
        )  # fmt: skip
        used.add(user.login)
        changes.append(Change(day(), "hire", user=user))
    if rng.random() < 0.15:
        women = [u for u in staff if u.female]
        if women:
            who = women[int(rng.integers(len(women)))]
            surname = names.feminine_surname(_pick(rng, names.SURNAMES))
            new_name = " ".join([surname, *who.name.split()[1:]])
            changes.append(Change(day(), "rename", login=who.login, text=new_name))
    for _ in range(int(rng.poisson(0.4))):
        who = staff[int(rng.integers(len(staff)))]
        position = _pick(rng, names.POSITIONS[1:])
        changes.append(Change(day(), "promote", login=who.login, text=position))
    rerouted = [t for t in state.telnums.values() if t.type in ("group", "scheduler")]
    if rng.random() < 0.15 and rerouted:
        number = rerouted[int(rng.integers(len(rerouted)))]
        target = _pick(rng, [g for g in group_ids if g not in number.groups])
        changes.append(Change(day(), "reroute", telnum=number.telnum, group_id=target))
    for _ in range(int(rng.poisson(0.6))):
        changes.append(Change(int(rng.integers(0, 7)), "blacklist", entry=_blacklist_entry(rng)))
    # DND and unsubscribing are temporary: most who switched off come back within weeks.
    for _ in range(int(rng.poisson(agents / 100))):
        changes.append(Change(day(), "dnd", login=_pick(rng, logins)))
    for _ in range(int(rng.poisson(agents / 100))):
        changes.append(Change(day(), "subscribe", login=_pick(rng, logins)))
    for user in staff:
        if user.dnd and rng.random() < 0.6:
            changes.append(Change(day(), "dnd", login=user.login))
        if not user.calls_enable and rng.random() < 0.3:
            changes.append(Change(day(), "subscribe", login=user.login))
    if rng.random() < 0.04:
        changes.append(Change(day(), "anonymous"))
    changes.sort(key=lambda c: c.weekday)  # stable: same-day changes keep their draw order
    return changes


def _apply(state: _State, change: Change) -> None:
    """Apply one change in place; changes to people who already left are ignored."""
    users = state.users
    who = users.get(change.login)
    if change.kind == "hire" and change.user is not None:
        users[change.user.login] = change.user
        state.used_logins = state.used_logins | {change.user.login}
    elif change.kind == "leave" and who is not None:
        del users[who.login]
        _drop_references(state, who.login)
    elif change.kind == "move" and who is not None:
        users[who.login] = dataclasses.replace(who, group_id=change.group_id)
    elif change.kind == "rename" and who is not None:
        users[who.login] = dataclasses.replace(who, name=change.text)
    elif change.kind == "promote" and who is not None:
        role = "admin" if change.text == names.HEAD_POSITION else who.role
        users[who.login] = dataclasses.replace(who, position=change.text, role=role)
    elif change.kind == "dnd" and who is not None:
        users[who.login] = dataclasses.replace(who, dnd=not who.dnd)
    elif change.kind == "subscribe" and who is not None:
        users[who.login] = dataclasses.replace(who, calls_enable=not who.calls_enable)
    elif change.kind == "reroute" and change.telnum in state.telnums:
        number = state.telnums[change.telnum]
        state.telnums[change.telnum] = dataclasses.replace(
            number, groups=(change.group_id,), duty_user=""
        )
    elif change.kind == "blacklist" and change.entry is not None:
        if all(e.telnum != change.entry.telnum for e in state.blacklist):
            state.blacklist = (*state.blacklist, change.entry)
    elif change.kind == "anonymous":
        state.block_anonymous = not state.block_anonymous


def _drop_references(state: _State, login: str) -> None:
    """A leaver's direct line, duty shifts, timeout target and SIM pass to nobody/colleagues."""
    for number, telnum in list(state.telnums.items()):
        if telnum.user == login:
            del state.telnums[number]
        elif telnum.duty_user == login:
            state.telnums[number] = dataclasses.replace(telnum, duty_user="")
    for gid, group in list(state.groups.items()):
        if group.timeout_user == login:
            state.groups[gid] = dataclasses.replace(
                group, timeout_target="voicemail", timeout_user=""
            )
    state.sims = tuple(
        dataclasses.replace(s, user="", company=True) if s.user == login else s for s in state.sims
    )


class Timeline:
    """The directory on any date; week starts are memoised as they are first reached."""

    def __init__(self, seed: int, agents: int) -> None:
        # Weeks are drawn in order from one stream: week w's changes always follow the same
        # draws of weeks 0..w-1, so the state on a date is still a function of (seed, date).
        self._rng = generator(seed, Purpose.DIRECTORY_WEEK)
        self._weeks: list[_State] = [found_company(seed, agents)]
        self._changes: dict[int, list[Change]] = {}
        self._lock = threading.Lock()

    def _week_start_state(self, week: int) -> tuple[_State, list[Change]]:
        with self._lock:
            while len(self._weeks) <= week:
                done = len(self._weeks) - 1
                nxt = self._weeks[done].copy()
                for change in self._changes_of(done):
                    _apply(nxt, change)
                self._weeks.append(nxt)
            return self._weeks[week], self._changes_of(week)

    def _changes_of(self, week: int) -> list[Change]:
        if week not in self._changes:
            self._changes[week] = _week_changes(self._rng, self._weeks[week])
        return self._changes[week]

    def directory(self, day: date) -> Directory:
        state, changes = self._weeks[0], list[Change]()
        if day >= EPOCH:
            state, changes = self._week_start_state((week_start(day) - EPOCH).days // 7)
        due = [c for c in changes if c.weekday <= day.weekday()]
        if due:
            state = state.copy()
            for change in due:
                _apply(state, change)
        return Directory(
            as_of=day,
            domain=state.domain,
            users=tuple(sorted(state.users.values(), key=lambda u: (len(u.ext), u.ext))),
            groups=tuple(state.groups.values()),
            telnums=tuple(state.telnums.values()),
            sims=state.sims,
            blacklist=state.blacklist,
            block_anonymous=state.block_anonymous,
        )
