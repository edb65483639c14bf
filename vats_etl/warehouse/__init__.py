"""The DuckDB warehouse.

Modules, lowest first (each imports only those above it)::

    kpi_settings.py  Company (zone + KPI settings file values a writer keeps, its account),
                     the KPI file
    schema.py        relations from vats_etl.sql, applied when the file is not up to date
    stamp.py         the account a warehouse belongs to; a writer of another is refused
    connection.py    connect (waits for DuckDB's one writer process), transactions,
                     STORAGE_ERRORS / is_storage_error (what the file or the disk did)
    caches.py        refresh of the inbound_outcomes cache (its SQL: outcomes_cache_* macros)
    read_copy.py     publish the read copy analysts open
    loading.py       idempotent upserts, load_runs / load_notes, quarantine, the history
                     formats an account lacks, checksums

The names callers use are re-exported here: ``warehouse.connect(path, company=...)``.
"""

from vats_etl.warehouse.caches import refresh_outcomes_cache
from vats_etl.warehouse.connection import (
    STORAGE_ERRORS,
    connect,
    is_storage_error,
    read_copy_path,
    schema_is_current,
    transaction,
)
from vats_etl.warehouse.kpi_settings import Company, read_kpi_file, sync_kpi_settings
from vats_etl.warehouse.loading import (
    LoadRun,
    format_fallbacks,
    quarantine,
    record_format_fallbacks,
    record_load_notes,
    record_load_runs,
    table_checksum,
    upsert,
)
from vats_etl.warehouse.read_copy import publish_read_copy
from vats_etl.warehouse.schema import (
    SQL_DIR,
    drop_derived_caches,
    ensure_schema,
    relations,
    sql_digest,
)

__all__ = [
    "SQL_DIR",
    "STORAGE_ERRORS",
    "Company",
    "LoadRun",
    "connect",
    "drop_derived_caches",
    "ensure_schema",
    "format_fallbacks",
    "is_storage_error",
    "publish_read_copy",
    "quarantine",
    "read_copy_path",
    "read_kpi_file",
    "record_format_fallbacks",
    "record_load_notes",
    "record_load_runs",
    "refresh_outcomes_cache",
    "relations",
    "schema_is_current",
    "sql_digest",
    "sync_kpi_settings",
    "table_checksum",
    "transaction",
    "upsert",
]
