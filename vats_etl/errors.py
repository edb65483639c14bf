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
    ├── ChunkFailed              a history chunk could not be loaded (wraps the cause)
    ├── DatabaseBusy             another process holds the DuckDB file longer than allowed
    ├── WarehouseError           the DuckDB file cannot be opened, read or written (not a
    │                            DuckDB file, truncated, read-only, its folder is a file,
    │                            the disk is full)
    ├── ArchiveError             the raw archive is missing, unreadable or cannot be written
    ├── EmailError               SMTP refused, failed auth or rejected recipients
    ├── WebhookError             the webhook receiver cannot start or apply its spool
    └── PrefectUnavailable       no Prefect API: the temporary server did not start
"""

from __future__ import annotations


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


class ChunkFailed(VatsError):
    pass


class DatabaseBusy(VatsError):
    pass


class WarehouseError(VatsError):
    pass


class ArchiveError(VatsError):
    pass


class EmailError(VatsError):
    pass


class WebhookError(VatsError):
    pass


class PrefectUnavailable(VatsError):
    pass
