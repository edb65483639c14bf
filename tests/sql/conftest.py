from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from tests.support.warehouse_rows import fresh


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = fresh()
    try:
        yield connection
    finally:
        connection.close()
