"""Many PBX accounts: the accounts file (``VATS_ACCOUNTS``, TOML) and each account's settings.

::

    root = "/var/lib/vats-etl/accounts"    # optional; default: data/accounts next to this file
    catalog = "/var/lib/vats-etl/catalog.duckdb"  # optional; default: next to root
    api_rate_limit = 5                     # optional; API requests per second per account

    [accounts.acme]                        # the name: a slug (a-z, 0-9, - and _)
    base_url = "acme.megapbx.ru"           # a bare domain or the full API URL
    key_env = "ACME_VATS_KEY"              # the *name* of the variable holding its key
    tz = "Europe/Moscow"                   # optional: else the PBX's own zone (GET /domain)
    email_routing = "routing/acme.toml"    # optional: the weekly email's routing file
    kpi_settings = "kpi/acme.toml"         # optional: W, T_short, N (warehouse.read_kpi_file)
    report_to = ["director@acme.ru"]       # optional: instead of REPORT_TO
    dashboard_url = "https://calls.acme.ru/"  # optional: where its dashboards are served
    crm_token_env = "ACME_CRM_TOKEN"       # optional: for `vats-etl --account acme webhook`
    api_rate_limit = 2                     # optional: this account's own limit
    work_queue = "host-a"                  # optional: only workers of this queue run it

    [groups]                               # optional: sets of accounts for the group report
    north = ["acme", "beta"]

Keys never go in the file, only the names of the variables that hold them; a worker reads
them from its own environment (or `.env`). Relative paths, and the default root, are
relative to the file's folder, so every worker resolves the same paths whatever its working
directory.

Each account is isolated under ``<root>/<name>/``: its warehouse ``vats.duckdb`` (and the
read copy ``vats.read.duckdb``), its dashboards, and its raw archive in
``raw/account=<name>/`` — a Hive partition, so the archives of all accounts read as one
table with an ``account`` column (:mod:`vats_etl.catalog`).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from vats_etl import errors
from vats_etl.config import DEFAULT_TZ, Secret, Settings, decode_text, normalize_base_url

# Names are matched in full (fullmatch): a pattern ending in `$` lets a trailing newline in.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,46}[a-z0-9])?")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A key pasted where the name of its variable belongs: a long run of hex digits, or a long
# mix of both cases and digits without the underscores variable names are written with.
_HEX_KEY = re.compile(r"(?=.*[0-9])(?=.*[A-Fa-f])[0-9A-Fa-f]{16,}")
_BASE64_KEY = re.compile(r"(?=.*[0-9])(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9+/=-]{20,}")
# Variables whose values are secrets: a variable name equal to one of their values is a key.
_SECRET_VARIABLE = re.compile(r".*(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
_DASHBOARD_URL = re.compile(r"https?://[^\s\"'<>]+")
DEFAULT_RATE_LIMIT = 5.0  # requests per second; the spec publishes no limit (docs/scale.md)
_TOP_KEYS = {"root", "catalog", "api_rate_limit", "accounts", "groups"}
_ACCOUNT_KEYS = {
    "base_url",
    "key_env",
    "tz",
    "email_routing",
    "kpi_settings",
    "report_to",
    "dashboard_url",
    "crm_token_env",
    "api_rate_limit",
    "work_queue",
}
_LOOKS_LIKE_A_KEY = {"api_key", "key", "x_api_key", "token", "crm_token", "password"}
# Where a warehouse and an archive were given from outside the accounts file (a CLI option or
# the single-account variables): each account keeps its own, so these must name the same.
_OWN_PLACES = {"db_path": "warehouse", "raw_dir": "raw archive"}
_DUCKDB_MAGIC = (8, b"DUCK")  # the bytes at this offset of every DuckDB file


@dataclass(frozen=True)
class Account:
    name: str
    base_url: str
    key_env: str
    tz: str | None  # None: the PBX's own zone, as for VATS_TZ unset (vats_etl/zones.py)
    home: Path  # <root>/<name>
    api_rate_limit: float
    email_routing: Path | None = None
    kpi_settings: Path | None = None
    report_to: tuple[str, ...] | None = None
    crm_token_env: str | None = None
    work_queue: str | None = None  # the work pool's queue its deployments go to
    dashboard_url: str | None = None  # instead of VATS_DASHBOARD_URL

    @property
    def db_path(self) -> Path:
        return self.home / "vats.duckdb"

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw" / f"account={self.name}"

    @property
    def dashboards_dir(self) -> Path:
        return self.home / "dashboards"

    @property
    def files(self) -> dict[str, Path]:
        """The files of its own the accounts file names (read, never written)."""
        named = {"email_routing": self.email_routing, "kpi_settings": self.kpi_settings}
        return {key: path for key, path in named.items() if path is not None}


@dataclass(frozen=True)
class Accounts:
    """The accounts file, read and checked."""

    path: Path
    root: Path
    catalog: Path
    accounts: Mapping[str, Account]
    groups: Mapping[str, tuple[str, ...]]

    @property
    def names(self) -> list[str]:
        return list(self.accounts)

    def get(self, name: str) -> Account:
        try:
            return self.accounts[name]
        except KeyError:
            known = ", ".join(self.accounts) or "none"
            raise errors.ConfigError(
                f"no account {name!r} in {self.path} (accounts: {known})"
            ) from None

    def group(self, name: str | None) -> list[Account]:
        """The accounts of a group of the file; every account for None."""
        if name is None:
            return list(self.accounts.values())
        if name not in self.groups:
            known = ", ".join(self.groups) or "none"
            raise errors.ConfigError(f"no group {name!r} in {self.path} (groups: {known})")
        return [self.accounts[n] for n in self.groups[name]]

    def settings(self, name: str, base: Settings, environ: Mapping[str, str]) -> Settings:
        """The account's settings: `base` (defaults, `.env`, environment: SMTP, REPORT_FROM,
        page limit, ...) with everything the account sets, its key read from `environ`.

        Nothing secret comes from the single account's variables: not VATS_API_KEY, not
        VATS_CRM_TOKEN (an account without crm_token_env has no token); nor its warehouse
        and archive (VATS_DB, VATS_RAW_DIR): see :meth:`refuse_elsewhere`."""
        account = self.get(name)
        key = (environ.get(account.key_env) or "").strip()
        token = (environ.get(account.crm_token_env) or "").strip() if account.crm_token_env else ""
        changes: dict[str, Any] = {
            "account": account.name,
            "base_url": account.base_url,
            "api_key": Secret(key) if key else None,
            "api_key_var": account.key_env,
            "crm_token": Secret(token) if token else None,
            # an account's zone is its own: VATS_TZ of the worker is no account's
            "tz": account.tz or DEFAULT_TZ,
            "tz_source": f"tz of [accounts.{account.name}]" if account.tz else None,
            "db_path": account.db_path,
            "raw_dir": account.raw_dir,
            "dashboards_dir": account.dashboards_dir,
            "email_routing": account.email_routing,
        }
        if account.kpi_settings is not None:  # else VATS_KPI_SETTINGS, if set, for all
            changes["kpi_file"] = account.kpi_settings
        if account.report_to is not None:
            changes["report_to"] = account.report_to
        if account.dashboard_url is not None:
            changes["dashboard_url"] = account.dashboard_url
        return base.replace(**changes)

    def refuse_elsewhere(self, name: str, field: str, given: object, source: str) -> None:
        """An account writes only its own warehouse and archive: `given` (a path for its
        `field`, ``db_path`` or ``raw_dir``, from `source`: ``--db``, ``VATS_DB``, ...) must
        be the account's own, symlinks resolved; nothing given is fine."""
        text = "" if given is None else str(given).strip()
        if not text:
            return
        own: Path = getattr(self.get(name), field)
        if _resolved(Path(text).expanduser(), source) != _resolved(own, str(self.path)):
            raise errors.ConfigError(
                f"{source} names {text}, but account {name} keeps its {_OWN_PLACES[field]} "
                f"in {own}: an account writes only its own (leave {source} out)"
            )

    @functools.cached_property
    def _homes(self) -> dict[Path, str]:
        """Each account's folder, symlinks resolved → the account's name."""
        return {_resolved(a.home, str(self.path)): a.name for a in self.accounts.values()}

    def owner_of(self, path: Path) -> str | None:
        """The account whose folder holds `path` (symlinks resolved), if any."""
        resolved = _resolved(path, str(self.path))
        for folder in (resolved, *resolved.parents):
            if folder in self._homes:
                return self._homes[folder]
        return None

    def refuse_as_catalog(self, path: Path) -> None:
        """A catalog (or its .sql) at `path` would be written over whatever is there: refuse
        a place inside an account's folder, the accounts file, or a file an account reads."""
        resolved = _resolved(path, str(self.path))
        owner = self.owner_of(path)
        if owner is not None:
            raise errors.ConfigError(
                f"{self.path}: catalog {path} is inside account {owner}'s folder "
                f"{self.get(owner).home}: it would be written over that account's files; "
                "put the catalog outside every account's folder"
            )
        if resolved == _resolved(self.path, str(self.path)):
            raise errors.ConfigError(
                f"{self.path}: catalog {path} is the accounts file itself: it would be "
                "replaced by a DuckDB file"
            )
        for account in self.accounts.values():
            for key, named in account.files.items():
                if _resolved(named, str(self.path)) == resolved:
                    raise errors.ConfigError(
                        f"{self.path}: catalog {path} is account {account.name}'s {key} file"
                    )


def _text(where: str, data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise errors.ConfigError(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise errors.ConfigError(f"{where}: {key} must be a non-empty string")
    if _CONTROL.search(value):
        raise errors.ConfigError(
            f"{where}: {key} must be one line of text (no line breaks or control characters)"
        )
    return value.strip()


def _rate(where: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise errors.ConfigError(
            f"{where}: api_rate_limit must be a positive number per second (not nan or inf)"
        )
    return float(value)


def _path(where: str, key: str, base: Path, text: str | None) -> Path | None:
    if text is None:
        return None
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # ~someone whose home is unknown
        raise errors.ConfigError(f"{where}: {key} {text!r}: no such home folder") from None
    return path if path.is_absolute() else base / path


def _resolved(path: Path, where: str) -> Path:
    """`path` with every symlink resolved, as the file system sees it now."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name too long
        raise errors.ConfigError(f"{where}: {path} cannot be resolved: {exc}") from None


def is_duckdb_file(path: Path) -> bool:
    """Whether `path` is a DuckDB file (its magic bytes), without opening it as one."""
    offset, magic = _DUCKDB_MAGIC
    try:
        with path.open("rb") as fh:
            return fh.read(offset + len(magic))[offset:] == magic
    except OSError:  # missing, a folder, unreadable: not one
        return False


def looks_like_a_key(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `name`, given as the name of a variable, is rather a key: long hex, a
    base64-like mix, or the value of a variable that holds a secret (``*_KEY``, ...)."""
    if _HEX_KEY.fullmatch(name) or _BASE64_KEY.fullmatch(name):
        return True
    return any(
        value.strip() == name
        for variable, value in (environ or {}).items()
        if _SECRET_VARIABLE.fullmatch(variable) and value
    )


def _variable(where: str, data: Mapping[str, Any], key: str) -> str | None:
    """A variable's name (key_env, crm_token_env); never repeats a value that is a key."""
    value = data.get(key)
    if value is None:
        if key == "key_env":
            raise errors.ConfigError(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str) or not _VARIABLE.fullmatch(value) or looks_like_a_key(value):
        raise errors.ConfigError(
            f"{where}: {key} must name an environment variable (letters, digits, _), not hold a key"
        )
    return value


def _addresses(where: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise errors.ConfigError(f"{where}: report_to must be an address or a list of them")
    found = tuple(a.strip() for a in items if a.strip())
    if not all(_ADDRESS.fullmatch(a) for a in found):
        raise errors.ConfigError(f"{where}: report_to must hold e-mail addresses (name@domain)")
    return found


def _zone(where: str, tz: str) -> str:
    try:
        ZoneInfo(tz)
    except Exception:  # not found, a folder of zones, a path outside them: not a zone
        raise errors.ConfigError(f"{where}: tz {tz!r} is not a known time zone") from None
    return tz


def _account(where: str, name: str, data: Any, folder: Path, root: Path, rate: float) -> Account:
    if not _SLUG.fullmatch(name):
        raise errors.ConfigError(
            f"{where}: account name {name!r} must be a slug: a-z, 0-9, '-' and '_', "
            "at most 48 characters, starting and ending with a letter or digit"
        )
    if not isinstance(data, dict):
        raise errors.ConfigError(f"{where}: expected a table [accounts.{name}]")
    secrets = sorted(set(data) & _LOOKS_LIKE_A_KEY)
    if secrets:
        raise errors.ConfigError(
            f"{where}: {', '.join(secrets)}: keys never go in the accounts file; put the key "
            "in an environment variable and name that variable in key_env"
        )
    unknown = sorted(set(data) - _ACCOUNT_KEYS)
    if unknown:
        raise errors.ConfigError(
            f"{where}: unknown {', '.join(unknown)}; known: {', '.join(sorted(_ACCOUNT_KEYS))}"
        )
    key_env = _variable(where, data, "key_env") or ""
    crm_token_env = _variable(where, data, "crm_token_env")
    base_url = _text(where, data, "base_url", required=True) or ""
    try:
        base_url = normalize_base_url(base_url)
    except errors.ConfigError as exc:
        raise errors.ConfigError(f"{where}: {exc}".replace("VATS_BASE_URL", "base_url")) from None
    tz_given = _text(where, data, "tz")
    tz = None if tz_given is None else _zone(where, tz_given)  # None: the PBX's own zone
    report_to = data.get("report_to")
    dashboard_url = _text(where, data, "dashboard_url")
    if dashboard_url is not None and not _DASHBOARD_URL.fullmatch(dashboard_url):
        raise errors.ConfigError(f"{where}: dashboard_url must be an http(s):// address")
    return Account(
        name=name,
        base_url=base_url,
        key_env=key_env,
        tz=tz,
        home=root / name,
        api_rate_limit=_rate(where, data["api_rate_limit"]) if "api_rate_limit" in data else rate,
        email_routing=_path(where, "email_routing", folder, _text(where, data, "email_routing")),
        kpi_settings=_path(where, "kpi_settings", folder, _text(where, data, "kpi_settings")),
        report_to=None if report_to is None else _addresses(where, report_to),
        crm_token_env=crm_token_env,
        work_queue=_text(where, data, "work_queue"),
        dashboard_url=dashboard_url,
    )


def _groups(where: str, data: Any, accounts: Mapping[str, Account]) -> dict[str, tuple[str, ...]]:
    """[groups]: each a list of the file's accounts. Group names differ ignoring case (and
    the punctuation a group's catalog file name leaves out): two that did not would share
    one catalog file, the later build replacing the earlier."""
    if not isinstance(data, dict):
        raise errors.ConfigError(f"{where}: [groups] must map a group name to account names")
    groups: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for group, members in data.items():
        if not group.strip() or _CONTROL.search(group):
            raise errors.ConfigError(f"{where}: group {group!r} needs a name of one line")
        if not isinstance(members, list) or not members:
            raise errors.ConfigError(f"{where}: group {group!r} must list account names")
        if not all(isinstance(m, str) for m in members):
            raise errors.ConfigError(f"{where}: group {group!r} must list account names")
        missing = [m for m in members if m not in accounts]
        if missing:
            raise errors.ConfigError(
                f"{where}: group {group!r} names unknown accounts: " + ", ".join(missing)
            )
        slug = group_slug(group)
        if slug in seen:
            raise errors.ConfigError(
                f"{where}: groups {seen[slug]!r} and {group!r} differ only in case or "
                "punctuation: they would share one catalog file; rename one"
            )
        seen[slug] = group
        groups[group] = tuple(dict.fromkeys(members))
    return groups


def group_slug(group: str) -> str:
    """The part of a group's catalog file name that names it: ``catalog-<slug>.duckdb``."""
    return re.sub(r"[^\w-]+", "-", group.lower()).strip("-_") or "group"


def parse_accounts(text: str, path: Path) -> Accounts:
    """Read an accounts file's text; `path` locates relative paths and names the file."""
    where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{where} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise errors.ConfigError(
            f"{where}: unknown {', '.join(unknown)}; known: {', '.join(sorted(_TOP_KEYS))}"
        )
    folder = _resolved(path, where).parent
    root = _path(where, "root", folder, _text(where, data, "root")) or folder / "data" / "accounts"
    catalog = (
        _path(where, "catalog", folder, _text(where, data, "catalog"))
        or root.parent / "catalog.duckdb"
    )
    rate = _rate(where, data["api_rate_limit"]) if "api_rate_limit" in data else DEFAULT_RATE_LIMIT
    tables = data.get("accounts")
    if not isinstance(tables, dict) or not tables:
        raise errors.ConfigError(f"{where}: no accounts (add a table [accounts.<name>])")
    accounts = {
        name: _account(
            f"{where} [accounts.{name if _SLUG.fullmatch(name) else repr(name)}]",
            name,
            table,
            folder,
            root,
            rate,
        )
        for name, table in tables.items()
    }
    groups = _groups(where, data.get("groups", {}), accounts)
    return Accounts(path, root, catalog, accounts, groups)


def check_places(found: Accounts, environ: Mapping[str, str] | None = None) -> Accounts:
    """Refuse a file whose paths would mix accounts up, as the file system resolves them now
    (symlinks included): two accounts in one folder, or one inside another's; a root that
    is a file; a catalog inside an account's folder or that is the accounts file; a file an
    account reads (routing, KPI settings) that is the accounts file, a DuckDB file, or in
    another account's folder. With `environ`, a variable's name that is rather the value of
    a secret variable there (a key pasted in its place) is refused too."""
    where = str(found.path)
    root = _resolved(found.root, where)
    existing = next((p for p in (root, *root.parents) if p.exists()), root)
    if not existing.is_dir():  # the root, or a folder it would be made in, is a file
        raise errors.ConfigError(f"{where}: root {found.root} is a file, or inside one")
    ordered = sorted(
        ((_resolved(a.home, where), a.name) for a in found.accounts.values()),
        key=lambda pair: pair[0].parts,
    )  # a folder sorts right before what it holds
    for (here, name), (there, other) in itertools.pairwise(ordered):
        if there == here:
            raise errors.ConfigError(
                f"{where}: accounts {name} and {other} resolve to one folder {here} (a "
                "symlink?): each account needs a folder of its own"
            )
        if there.is_relative_to(here):
            raise errors.ConfigError(
                f"{where}: account {other}'s folder {there} is inside account {name}'s "
                f"{here} (a symlink?): each account needs a folder of its own"
            )
    found.refuse_as_catalog(found.catalog)
    accounts_file = _resolved(found.path, where)
    for account in found.accounts.values():
        context = f"{where} [accounts.{account.name}]"
        for variable in filter(None, (account.key_env, account.crm_token_env)):
            if looks_like_a_key(variable, environ):
                raise errors.ConfigError(
                    f"{context}: a variable's name holds what looks like a key (the value "
                    "of a secret variable): name the variable that holds it instead"
                )
        for key, named in account.files.items():
            resolved = _resolved(named, context)
            owner = found.owner_of(named)
            if resolved == accounts_file:
                raise errors.ConfigError(f"{context}: {key} {named} is the accounts file itself")
            if owner is not None and owner != account.name:
                raise errors.ConfigError(
                    f"{context}: {key} {named} is inside account {owner}'s folder: an "
                    "account reads nothing of another's"
                )
            if is_duckdb_file(resolved):
                raise errors.ConfigError(
                    f"{context}: {key} {named} is a DuckDB file (a warehouse?), not a TOML file"
                )
    return found


def load_accounts(path: Path, environ: Mapping[str, str] | None = None) -> Accounts:
    """Read and check the accounts file at `path` (see :func:`check_places`; `environ`, the
    variables the accounts' keys are read from, also catches a key in a variable's place)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise errors.ConfigError(
            f"cannot read the accounts file {path} (VATS_ACCOUNTS): {exc.strerror}"
        ) from None
    return check_places(parse_accounts(decode_text(data, path, "accounts file"), path), environ)


def explain(exc: Exception, settings: Settings) -> str:
    """A failure as one line naming the account; the client names the single-account key
    variable, an account's key lives in its own."""
    text = str(exc).replace("VATS_API_KEY", settings.api_key_var)
    return f"account {settings.account}: {text}" if settings.account else text


# -- `vats-etl accounts`: one cheap call per account, in parallel -----------------------------

Status = Literal["ok", "rejected key", "unreachable", "no key", "error"]


@dataclass(frozen=True)
class CheckResult:
    account: str
    status: Status
    detail: str  # users reported, or the one-line reason

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def classify(exc: BaseException) -> Status:
    if isinstance(exc, errors.AuthError):
        return "rejected key"
    if isinstance(exc, errors.GaveUp):
        return "unreachable"
    if isinstance(exc, errors.ConfigError):
        return "no key"
    return "error"


def check_all(
    settings: Sequence[Settings],
    check: Callable[[Settings], int | None],
    *,
    parallel: int = 16,
) -> list[CheckResult]:
    """`check(settings)` (one cheap call, answering the number of users, None when the PBX
    did not say) for every account at once; results in the given order. A failure, whatever
    it raised, is that account's result, never an exception (its secrets masked)."""

    def one(s: Settings) -> CheckResult:
        name = s.account or "-"
        try:
            s.require_api()
            users = check(s)
        except Exception as exc:
            told = errors.describe(exc, (s.api_key, s.crm_token, s.smtp_password))
            status = classify(exc)
            if status == "no key" and s.api_key:  # a key is set, but cannot be used as it is
                status = "error"
            return CheckResult(name, status, told.replace("VATS_API_KEY", s.api_key_var))
        return CheckResult(name, "ok", "answers" if users is None else f"{users} users")

    if not settings:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(settings)))) as pool:
        return list(pool.map(one, settings))
