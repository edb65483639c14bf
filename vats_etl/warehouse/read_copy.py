"""The read copy analysts open: ``<db>.read.duckdb``, replaced atomically after each job.

Holding it open never blocks a flow, and a flow replacing it never breaks an open session
(the old file stays readable until the session reconnects).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from vats_etl import errors
from vats_etl.warehouse import schema
from vats_etl.warehouse.caches import refresh_outcomes_cache
from vats_etl.warehouse.connection import connect, read_copy_path
from vats_etl.warehouse.kpi_settings import Company


def publish_read_copy(
    path: Path, *, timeout_s: float = 60.0, upgrade: Company | None = None
) -> Path:
    """Atomically replace `<db>.read.duckdb` with a consistent copy of the warehouse.

    The copy is taken while holding the writer lock right after a checkpoint, so the file
    is complete without its WAL; the rename is atomic, and sessions that have the old copy
    open keep reading it. With `upgrade` (the company whose warehouse it is) the warehouse is
    first brought up to this version's SQL, for a reader that found an older one.
    """
    target = read_copy_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if upgrade is not None:  # check the file again, whatever this process saw of it before
        schema.forget_checked(path)
    try:
        with connect(path, company=upgrade, timeout_s=timeout_s) as con:
            refresh_outcomes_cache(con)
            con.execute("checkpoint")
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise errors.WarehouseError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return target
