"""Settings: one frozen object built from defaults, a `.env` file, the environment and CLI flags.

Precedence, lowest first: defaults < `.env` < environment < explicit overrides (CLI flags).
Secrets are wrapped in :class:`Secret`, whose ``repr``/``str`` never show the value; only
``reveal()`` does, and only the HTTP, SMTP and webhook edges call it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from vats_etl.errors import ConfigError

SMTP_SECURITY_CHOICES = ("starttls", "ssl", "none")


class Secret:
    """A string that never shows itself in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


API_PATH = "/crmapi/v1"

# What an HTTP header's value can carry: visible ASCII, spaces only inside. A key with a line
# break, a control character or a non-ASCII letter cannot be sent, and the HTTP stack's
# complaint about it would quote the key.
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def header_safe(value: str) -> bool:
    """Whether `value` can be sent as an HTTP header's value as it is."""
    return _HEADER_VALUE.fullmatch(value) is not None


def decode_text(data: bytes, path: Path, what: str) -> str:
    """A settings file's bytes as UTF-8 text; else one line naming the file and where it
    stops being UTF-8 (never the bytes themselves: they may be a pasted key)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (line {line}, byte {exc.start}): save it as UTF-8"
        ) from None


def _check_url(value: str, url: str) -> str:
    """`url` (made from what the user gave, `value`) has a host, a valid port, no spaces."""
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        raise ConfigError(f"VATS_BASE_URL {value!r} holds spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ConfigError(f"VATS_BASE_URL {value!r} is not a valid URL") from None
    if not parts.hostname:
        raise ConfigError(f"VATS_BASE_URL {value!r} has no host")
    return url


def normalize_base_url(value: str) -> str:
    """The API base from what a user pastes, for any operator of the platform (the host is
    all that differs): ``acme.megapbx.ru`` or ``pbx.example.by`` → ``https://{domain}/crmapi/v1``
    (also with ``/crmapi/v1`` already written after it); a URL with a scheme but no path
    (the cabinet's address) gets ``/crmapi/v1``; other URLs lose a trailing slash."""
    value = value.strip()
    if not value:
        raise ConfigError("VATS_BASE_URL is empty")
    if "://" not in value:
        domain = value.rstrip("/")
        if domain.endswith(API_PATH):
            domain = domain.removesuffix(API_PATH)
        domain = domain.strip("/")
        if not domain or "/" in domain:
            raise ConfigError(
                f"VATS_BASE_URL {value!r} is neither a bare domain nor a URL with a scheme"
            )
        return _check_url(value, f"https://{domain}{API_PATH}")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"VATS_BASE_URL {value!r} must start with http:// or https://")
    scheme, rest = value.split("://", 1)
    if not rest.strip("/"):
        raise ConfigError(f"VATS_BASE_URL {value!r} has no host")
    if "/" not in rest.rstrip("/"):
        return _check_url(value, f"{scheme}://{rest.rstrip('/')}{API_PATH}")
    return _check_url(value, value.rstrip("/"))


DEFAULT_TZ = "Europe/Moscow"
RECORDINGS_CHOICES = ("off", "reported", "all")


@dataclass(frozen=True)
class Settings:
    base_url: str | None = None
    api_key: Secret | None = None
    db_path: Path = Path("data/vats.duckdb")
    raw_dir: Path = Path("data/raw")
    tz: str = DEFAULT_TZ
    # Where `tz` was given (VATS_TZ, --tz, an accounts file); None: not given, so the PBX's
    # own zone is used once read (vats_etl/zones.py), else the default.
    tz_source: str | None = None
    crm_token: Secret | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    smtp_security: str = "starttls"
    report_from: str | None = None
    report_to: tuple[str, ...] = ()
    # Rows asked for per history request; a response this full may be truncated and is split.
    page_limit: int = 5000
    # How long a writer waits for another process to release the DuckDB file.
    db_lock_timeout_s: float = 60.0
    # Where the dashboards are served (the weekly email links to them), e.g. https://calls.acme.ru/
    dashboard_url: str | None = None
    # W, T_short, N, ... that writers keep in kpi_settings (TOML; keys absent are left alone).
    kpi_file: Path | None = None
    # Set for one account of an accounts file (vats_etl/accounts.py); None: the single account.
    account: str | None = None
    # The variable the key came from, named in messages about a missing or rejected key.
    api_key_var: str = "VATS_API_KEY"
    dashboards_dir: Path | None = None  # None: VATS_DASHBOARDS_DIR, else ./dashboards
    email_routing: Path | None = None  # None: --routing / VATS_EMAIL_ROUTING
    # Which recordings `daily` copies next to the raw archive: off, reported, all.
    recordings: str = "off"
    # Days a copied recording is kept (by its call's day); 0 keeps them for ever.
    recordings_keep_days: int = 365

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def recordings_dir(self) -> Path:
        """The copies of recordings: the raw archive's sibling ``recordings/``."""
        return self.raw_dir.parent / "recordings"

    @property
    def read_db_path(self) -> Path:
        """The published read-only copy analysts open (see README, "Analysts")."""
        return self.db_path.with_name(f"{self.db_path.stem}.read{self.db_path.suffix}")

    def require_api(self) -> tuple[str, Secret]:
        if not self.base_url:
            raise ConfigError("VATS_BASE_URL is not set (e.g. acme.megapbx.ru)")
        if not self.api_key:
            raise ConfigError(f"{self.api_key_var} is not set")
        if not header_safe(self.api_key.reveal()):
            raise ConfigError(
                f"{self.api_key_var} holds a character an HTTP header cannot carry (a line "
                "break, a control character or a non-ASCII letter): check its value"
            )
        return self.base_url, self.api_key

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_ENV_FIELDS: dict[str, str] = {
    "VATS_BASE_URL": "base_url",
    "VATS_API_KEY": "api_key",
    "VATS_DB": "db_path",
    "VATS_RAW_DIR": "raw_dir",
    "VATS_TZ": "tz",
    "VATS_CRM_TOKEN": "crm_token",
    "VATS_PAGE_LIMIT": "page_limit",
    "VATS_DB_LOCK_TIMEOUT": "db_lock_timeout_s",
    "VATS_KPI_SETTINGS": "kpi_file",
    "VATS_DASHBOARD_URL": "dashboard_url",
    "VATS_RECORDINGS": "recordings",
    "VATS_RECORDINGS_KEEP_DAYS": "recordings_keep_days",
    "SMTP_HOST": "smtp_host",
    "SMTP_PORT": "smtp_port",
    "SMTP_USER": "smtp_user",
    "SMTP_PASSWORD": "smtp_password",
    "SMTP_SECURITY": "smtp_security",
    "REPORT_FROM": "report_from",
    "REPORT_TO": "report_to",
}
_SECRETS = {"api_key", "crm_token", "smtp_password"}


def _convert(name: str, raw: Any) -> Any:
    if raw is None or isinstance(raw, Secret | Path | tuple):
        return raw
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text == "" and name not in {"report_to"}:
        return None
    if name in _SECRETS:
        return Secret(text)
    if name == "base_url":
        return normalize_base_url(text)
    if name in {"db_path", "raw_dir", "kpi_file", "dashboards_dir", "email_routing"}:
        return Path(text).expanduser()
    if name in {"smtp_port", "page_limit", "recordings_keep_days"}:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {text!r}") from None
    if name == "db_lock_timeout_s":
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"{name} must be a number of seconds, got {text!r}")
        return seconds
    if name == "report_to":
        return tuple(a.strip() for a in text.replace(";", ",").split(",") if a.strip())
    if name in {"smtp_security", "recordings"}:
        return text.lower()
    return text


def _validate(settings: Settings) -> Settings:
    try:
        ZoneInfo(settings.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"VATS_TZ {settings.tz!r} is not a known time zone") from None
    if settings.smtp_security not in SMTP_SECURITY_CHOICES:
        raise ConfigError(
            f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY_CHOICES)}, "
            f"got {settings.smtp_security!r}"
        )
    if settings.page_limit < 1:
        raise ConfigError("VATS_PAGE_LIMIT must be at least 1")
    if settings.recordings not in RECORDINGS_CHOICES:
        raise ConfigError(
            f"VATS_RECORDINGS must be one of {', '.join(RECORDINGS_CHOICES)}, "
            f"got {settings.recordings!r}"
        )
    if settings.recordings_keep_days < 0:
        raise ConfigError("VATS_RECORDINGS_KEEP_DAYS must be 0 (keep for ever) or more")
    if settings.dashboard_url is not None and not re.fullmatch(
        r"https?://[^\s\"'<>]+", settings.dashboard_url
    ):
        raise ConfigError(
            f"VATS_DASHBOARD_URL must be an http(s):// address, got {settings.dashboard_url!r}"
        )
    return settings


def variables(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> dict[str, str]:
    """The variables settings are read from: the `.env` file, then the environment over it."""
    found: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        found.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    found.update(os.environ if environ is None else environ)
    return found


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> Settings:
    """Build settings. `overrides` holds field names (CLI flags); None values are ignored."""
    source = variables(environ, env_file)
    values: dict[str, Any] = {}
    for var, name in _ENV_FIELDS.items():
        if var in source:
            values[name] = _convert(name, source[var])
    values = {k: v for k, v in values.items() if v is not None}
    if "tz" in values:
        values["tz_source"] = "VATS_TZ"
    return with_overrides(Settings(**values), overrides or {})


def with_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """`settings` with fields replaced (CLI flags over everything); None values are ignored."""
    known = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        converted = _convert(name, value)
        if converted is not None:
            values[name] = converted
    if "tz" in values and "tz_source" not in values:
        values["tz_source"] = "--tz"
    return _validate(settings.replace(**values))
