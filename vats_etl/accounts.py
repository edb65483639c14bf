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

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vats_etl import errors
from vats_etl.config import DEFAULT_TZ, Secret, Settings, normalize_base_url

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,46}[a-z0-9])?$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
        page limit, ...) with everything the account sets, its key read from `environ`."""
        account = self.get(name)
        key = (environ.get(account.key_env) or "").strip()
        token = (environ.get(account.crm_token_env) or "").strip() if account.crm_token_env else ""
        changes: dict[str, Any] = {
            "account": account.name,
            "base_url": account.base_url,
            "api_key": Secret(key) if key else None,
            "api_key_var": account.key_env,
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
        if account.crm_token_env:
            changes["crm_token"] = Secret(token) if token else None
        return base.replace(**changes)


def _text(where: str, data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise errors.ConfigError(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise errors.ConfigError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _rate(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise errors.ConfigError(f"{where}: api_rate_limit must be a positive number per second")
    return float(value)


def _path(base: Path, text: str | None) -> Path | None:
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _account(where: str, name: str, data: Any, folder: Path, root: Path, rate: float) -> Account:
    if not _SLUG.match(name):
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
    base_url = _text(where, data, "base_url", required=True) or ""
    try:
        base_url = normalize_base_url(base_url)
    except errors.ConfigError as exc:
        raise errors.ConfigError(f"{where}: {exc}".replace("VATS_BASE_URL", "base_url")) from None
    variables = {}
    for key in ("key_env", "crm_token_env"):
        variable = _text(where, data, key, required=key == "key_env")
        if variable is not None and not _VARIABLE.match(variable):
            raise errors.ConfigError(
                f"{where}: {key} must name an environment variable (letters, digits, _), "
                "not hold a key"
            )
        variables[key] = variable
    tz = _text(where, data, "tz")
    try:
        if tz is not None:
            ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.ConfigError(f"{where}: tz {tz!r} is not a known time zone") from None
    report_to = data.get("report_to")
    if report_to is not None:
        if isinstance(report_to, str):
            report_to = [report_to]
        if not isinstance(report_to, list) or not all(isinstance(a, str) for a in report_to):
            raise errors.ConfigError(f"{where}: report_to must be an address or a list of them")
        report_to = tuple(a.strip() for a in report_to if a.strip())
    return Account(
        name=name,
        base_url=base_url,
        key_env=variables["key_env"] or "",
        tz=tz,
        home=root / name,
        api_rate_limit=_rate(where, data["api_rate_limit"]) if "api_rate_limit" in data else rate,
        email_routing=_path(folder, _text(where, data, "email_routing")),
        kpi_settings=_path(folder, _text(where, data, "kpi_settings")),
        report_to=report_to,
        crm_token_env=variables["crm_token_env"],
        work_queue=_text(where, data, "work_queue"),
        dashboard_url=_text(where, data, "dashboard_url"),
    )


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
    folder = path.resolve().parent
    root = _path(folder, _text(where, data, "root")) or folder / "data" / "accounts"
    catalog = _path(folder, _text(where, data, "catalog")) or root.parent / "catalog.duckdb"
    rate = _rate(where, data["api_rate_limit"]) if "api_rate_limit" in data else DEFAULT_RATE_LIMIT
    tables = data.get("accounts")
    if not isinstance(tables, dict) or not tables:
        raise errors.ConfigError(f"{where}: no accounts (add a table [accounts.<name>])")
    accounts = {
        name: _account(f"{where} [accounts.{name}]", name, table, folder, root, rate)
        for name, table in tables.items()
    }
    groups_data = data.get("groups", {})
    if not isinstance(groups_data, dict):
        raise errors.ConfigError(f"{where}: [groups] must map a group name to account names")
    groups: dict[str, tuple[str, ...]] = {}
    for group, members in groups_data.items():
        if not isinstance(members, list) or not members:
            raise errors.ConfigError(f"{where}: group {group!r} must list account names")
        missing = [m for m in members if m not in accounts]
        if missing:
            raise errors.ConfigError(
                f"{where}: group {group!r} names unknown accounts: {', '.join(map(str, missing))}"
            )
        groups[group] = tuple(dict.fromkeys(members))
    return Accounts(path, root, catalog, accounts, groups)


def load_accounts(path: Path) -> Accounts:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise errors.ConfigError(
            f"cannot read the accounts file {path} (VATS_ACCOUNTS): {exc.strerror}"
        ) from None
    return parse_accounts(text, path)


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


def classify(exc: Exception) -> Status:
    if isinstance(exc, errors.AuthError):
        return "rejected key"
    if isinstance(exc, errors.GaveUp):
        return "unreachable"
    if isinstance(exc, errors.ConfigError):
        return "no key"
    return "error"


def check_all(
    settings: Sequence[Settings],
    check: Callable[[Settings], int],
    *,
    parallel: int = 16,
) -> list[CheckResult]:
    """`check(settings)` (one cheap call, answering the number of users) for every account
    at once; results in the given order. A failure is a result, never an exception."""

    def one(s: Settings) -> CheckResult:
        name = s.account or "-"
        try:
            s.require_api()
            return CheckResult(name, "ok", f"{check(s)} users")
        except errors.VatsError as exc:
            return CheckResult(name, classify(exc), str(exc).replace("VATS_API_KEY", s.api_key_var))

    if not settings:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(settings)))) as pool:
        return list(pool.map(one, settings))
