"""_in_order: results come back in submission order, with about a batch of rows in flight."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from vats_etl import pipeline
from vats_etl.periods import Window

WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))


class CountingPool(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def result_of(rows: int) -> pipeline.LoadChunkResult:
    chunk = pipeline.LoadChunk("external", "json", WINDOW, date(2026, 1, 1))
    result = pipeline.LoadChunkResult(chunk, f"id-{rows}", started_at=datetime.now(UTC))
    result.rows_received = rows
    return result


def in_flight(items: list[int], *, ahead: int, rows_ahead: int) -> tuple[list[int], list[int]]:
    """(rows of the results in the order received, items outstanding at each result)."""
    received, outstanding = [], []
    with CountingPool() as pool:
        for consumed, result in enumerate(
            pipeline._in_order(pool, result_of, items, ahead=ahead, rows_ahead=rows_ahead), 1
        ):
            received.append(result.rows_received)
            outstanding.append(pool.submitted - consumed)
    return received, outstanding


def test_results_keep_submission_order() -> None:
    items = list(range(1, 301))
    received, _ = in_flight(items, ahead=3, rows_ahead=0)
    assert received == items


def test_without_a_row_budget_ahead_items_are_in_flight() -> None:
    _, outstanding = in_flight([100] * 50, ahead=3, rows_ahead=0)
    assert max(outstanding) == 3


def test_a_row_budget_keeps_about_that_many_rows_in_flight() -> None:
    _, outstanding = in_flight([1_000] * 100, ahead=2, rows_ahead=10_000)
    assert max(outstanding) == 10  # 10,000 rows ahead at 1,000 rows per item
    assert outstanding[-1] == 0


def test_the_row_budget_never_exceeds_max_ahead() -> None:
    _, outstanding = in_flight([1] * 500, ahead=2, rows_ahead=1_000_000)
    assert max(outstanding) == pipeline.MAX_AHEAD


def test_stop_submits_nothing_more() -> None:
    stop = threading.Event()
    seen = 0
    with CountingPool() as pool:
        for _ in pipeline._in_order(pool, result_of, [10] * 100, ahead=4, stop=stop):
            seen += 1
            stop.set()
        # The first result's replacement is submitted before the caller sees it.
        assert pool.submitted == 5
    assert seen == 5
