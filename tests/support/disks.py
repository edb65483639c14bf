"""A real small filesystem (tmpfs) that fills up, for tests of what a full disk does."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def tiny_disk(directory: Path, size: str = "5m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `directory` for the test (root only: skipped, saying
    why, where mounting is refused); unmounted after it."""
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"a real full disk needs mount (root): {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def grow(directory: Path, size: str = "64m") -> None:
    """Room again on the tmpfs at `directory`: what an operator does when a disk is full."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(directory)], check=True)


def fill(directory: Path, leave: int = 0) -> Path:
    """Take all but `leave` bytes of the filesystem of `directory`; the filler file, which
    gives them back when deleted."""
    filler = directory / "filler"
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as fh:
        remaining = max(0, free - leave)
        try:
            while remaining > 0:
                chunk = min(remaining, 1 << 20)
                fh.write(b"\0" * chunk)
                remaining -= chunk
            fh.flush()
        except OSError:  # the last bytes were not there after all
            pass
    return filler
