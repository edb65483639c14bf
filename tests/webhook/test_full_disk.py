"""A real full disk (a small tmpfs) under the spool, and under the warehouse: webhooks that
cannot be kept are answered 503, never 200; /health says degraded; once there is room again
the receiver catches up by itself and every acknowledged webhook is in the warehouse.
(The same paths with a simulated ENOSPC, where mounting is not allowed:
test_health.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.disks import tiny_disk
from tests.webhook.support import (
    config,
    db_held_by_another_process,
    history,
    query,
    wait_until,
)
from vats_etl import warehouse
from vats_etl.webhook import Receiver, serve_in_background

# mounts a tmpfs; another process holds the warehouse
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def spool_disk(tmp_path: Path) -> Iterator[Path]:
    yield from tiny_disk(tmp_path / "spool-disk", "512k")


@pytest.fixture
def warehouse_disk(tmp_path: Path) -> Iterator[Path]:
    yield from tiny_disk(tmp_path / "db-disk", "32m")


def health(client: httpx.Client, receiver: Receiver) -> tuple[int, dict[str, object]]:
    response = client.get(receiver.url.rsplit("/", 1)[0] + "/health")
    return response.status_code, response.json()


def test_a_full_spool_disk_answers_503_and_heals(tmp_path, spool_disk):
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")):
        pass
    acked: list[str] = []
    refused: list[str] = []
    cfg = config(tmp_path, spool_dir=spool_disk / "spool")
    with serve_in_background(cfg) as receiver, httpx.Client(timeout=10) as client:
        with db_held_by_another_process(db):  # nothing is applied: the spool fills up
            for i in range(200):
                uid = f"D-{i:03d}"
                body = history(uid, groupRealName="x" * 20_000)
                status = client.post(receiver.url, json=body).status_code
                assert status in (200, 503)
                (acked if status == 200 else refused).append(uid)
                if len(refused) >= 3:
                    break
            assert len(acked) > 5 and len(refused) == 3
            status, body = health(client, receiver)
            assert status == 503 and "the spool's last write failed" in body["reasons"]
        # the warehouse is free: the spool is applied and its segments deleted, room again
        wait_until(lambda: receiver.applier_stats.applied >= len(acked), timeout=30)

        def stored_after() -> bool:
            return client.post(receiver.url, json=history("AFTER")).status_code == 200

        wait_until(stored_after, timeout=30, what="a 200 again")
        assert health(client, receiver)[0] == 200
    stored = {row[0] for row in query(db, "select uid from calls")}
    assert stored == {*acked, "AFTER"}


def test_a_full_warehouse_disk_answers_503_and_heals(tmp_path, warehouse_disk):
    db = warehouse_disk / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")):
        pass
    filler = warehouse_disk / "filler"
    cfg = config(tmp_path, db_path=db, spool_dir=tmp_path / "spool")
    with serve_in_background(cfg) as receiver, httpx.Client(timeout=10) as client:
        applier = receiver._applier
        assert applier is not None
        with open(filler, "wb") as fh:  # take every byte that is left
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
            except OSError:
                pass
        acked = []
        for i in range(40):
            response = client.post(receiver.url, json=history(f"W-{i:02d}", link="x" * 5000))
            if response.status_code == 200:
                acked.append(f"W-{i:02d}")
            else:
                assert response.status_code == 503
        wait_until(lambda: applier.failing, timeout=30, what="the warehouse refusing")
        assert client.post(receiver.url, json=history("REFUSED")).status_code == 503
        status, body = health(client, receiver)
        assert status == 503
        assert body["reasons"] == ["the warehouse writer is failing (see the receiver's log)"]
        filler.unlink()
        wait_until(lambda: health(client, receiver)[0] == 200, timeout=30, what="recovery")
        assert client.post(receiver.url, json=history("AFTER")).status_code == 200
    stored = {row[0] for row in query(db, "select uid from calls")}
    assert acked and stored == {*acked, "AFTER"}
