"""Every error vats-etl raises on purpose. The CLI prints ``str(exc)`` as a one-line message
and exits non-zero; no traceback for these. Messages name the endpoint, window, chunk or file
involved and never contain a secret (API key, CRM token, SMTP password).

    VatsError
    ├── ConfigError              a setting is missing or malformed
    ├── ApiError                 the PBX API refused or failed a request
    │   ├── ApiValidationError   400 "Validation error": bad parameters
    │   ├── AuthError            401: the request was not authorised
    │   │   ├── InvalidToken     401 "Invalid token": wrong X-API-KEY
    │   │   ├── CrmDisabled      401 "CRM disabled": the CRM service is unavailable
    │   │   └── CrmSwitchedOff   401 "CRM switched off": API access is turned off
    │   ├── DomainDisabled       401 "Domain disabled": the whole PBX account is switched
    │   │                        off (not a rejected key)
    │   ├── NotFound             404: no such user, department, number, ...
    │   ├── MethodNotAllowed     405 "Method Not Allowed"
    │   ├── Gone                 410: a recording the PBX no longer keeps (expired)
    │   ├── ServerError          5xx that is not retried (retried ones end in GaveUp)
    │   └── GaveUp               retries exhausted: timeouts, connection errors, 5xx, 429
    ├── UnknownShape             a response's shape is not one we know (chunk fails loudly)
    ├── DatabaseBusy             another process holds the DuckDB file longer than allowed
    ├── WarehouseError           the DuckDB file cannot be opened, read or written (not a
    │   │                        DuckDB file, truncated, read-only, its folder is a file,
    │   │                        the disk is full)
    │   └── WrongWarehouse       the file is the warehouse of another account
    ├── QueryRefused             a statement the catalog does not run: it only reads
    ├── ArchiveError             the raw archive is missing, unreadable or cannot be written
    ├── EmailError               SMTP refused, failed auth or rejected recipients
    ├── WebhookError             the webhook receiver cannot start or apply its spool
    └── PrefectUnavailable       no Prefect API: the temporary server did not start
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class VatsError(Exception):
    """Base of all expected errors."""


class ConfigError(VatsError):
    pass


class ApiError(VatsError):
    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class ApiValidationError(ApiError):
    pass


class AuthError(ApiError):
    pass


class InvalidToken(AuthError):
    pass


class CrmDisabled(AuthError):
    pass


class CrmSwitchedOff(AuthError):
    pass


class DomainDisabled(ApiError):
    pass


class NotFound(ApiError):
    pass


class MethodNotAllowed(ApiError):
    pass


class Gone(ApiError):
    pass


class ServerError(ApiError):
    pass


class GaveUp(ApiError):
    pass


class UnknownShape(VatsError):
    pass


class DatabaseBusy(VatsError):
    pass


class WarehouseError(VatsError):
    pass


class WrongWarehouse(WarehouseError):
    pass


class QueryRefused(VatsError):
    pass


class ArchiveError(VatsError):
    pass


class EmailError(VatsError):
    pass


class WebhookError(VatsError):
    pass


class PrefectUnavailable(VatsError):
    pass


class _Revealing(Protocol):
    def reveal(self) -> str: ...


def describe(exc: BaseException, secrets: Iterable[_Revealing | None] = ()) -> str:
    """Any failure in a few words: an expected error's own message (written for users, never
    with a secret in it), what the operating system said, or else the exception's type and
    its message, with any of `secrets` in it masked. A UnicodeError leaves out the text it
    could not encode or decode: that text may be an API key or a password."""
    text = _described(exc)
    for secret in secrets:
        value = secret.reveal() if secret else ""
        if value:
            text = text.replace(value, "********")
    return text


def _described(exc: BaseException) -> str:
    if isinstance(exc, VatsError):
        return str(exc)
    if isinstance(exc, OSError):
        if exc.filename and exc.strerror:
            return f"{exc.filename}: {exc.strerror}"
        return str(exc) or type(exc).__name__
    if isinstance(exc, UnicodeEncodeError):
        return f"{type(exc).__name__}: a character {exc.encoding} cannot encode ({exc.reason})"
    if isinstance(exc, UnicodeDecodeError):
        return f"{type(exc).__name__}: bytes that are not {exc.encoding} ({exc.reason})"
    if isinstance(exc, UnicodeError):
        return type(exc).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
