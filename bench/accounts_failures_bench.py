"""Accounts that fail, and what it costs the others: prints figures, asserts nothing.

    .venv/bin/python -m bench.accounts_failures_bench [--accounts 100] [--silent 10]

1. `vats-etl accounts` over ACCOUNTS accounts of which SILENT are on a host that accepts
   connections and never answers (a listening socket that never reads), the others on
   one emulator: wall time of the command, against the same file with no silent host.
2. `vats-etl --all-accounts daily` over four accounts (10-agent emulators) of which one
   fails — a rejected key, then a silent host — against a running Prefect server: each
   account's time inside the loop (from one `== account` line to the next), and each
   account's `--account NAME daily` alone (a process of its own: its start and imports
   included, measured on their own too). Inside the loop the first account bears that
   start and the first flow run's set-up; the next ones do not.

Real `vats-etl` processes throughout; the machine's load average is printed at the start
and the end (a shared machine shows in every figure).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.cli.support import write_accounts
from tests.support.processes import clean_env, prefect_server
from vats_etl.emulator import Emulator, EmulatorServer

KEY = "bench-failures-key-0123456789"


def vats(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()"]
    return subprocess.Popen(
        [*command, "--env-file", "/dev/null", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def timed(*args: str, env: dict[str, str]) -> tuple[float, int, list[tuple[float, str]]]:
    """Run vats-etl ARGS: its wall time, exit code, and each stderr line with when it came."""
    started = time.monotonic()
    proc = vats(*args, env=env)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    assert proc.stdout is not None
    proc.stdout.read()
    code = proc.wait()
    reader.join()
    return time.monotonic() - started, code, lines


def check_accounts(tmp: Path, total: int, silent: int, good_url: str, silent_url: str) -> None:
    for n_silent in (0, silent):
        urls = {f"acc{n:03d}": silent_url if n < n_silent else good_url for n in range(total)}
        folder = tmp / f"accounts-{n_silent}"
        folder.mkdir()
        path = write_accounts(folder, urls)
        env = clean_env(VATS_ACCOUNTS=str(path), **{f"{n.upper()}_KEY": KEY for n in urls})
        wall, code, lines = timed("accounts", env=env)
        print(f"accounts: {total} accounts, {n_silent} silent: {wall:.1f} s wall (exit {code})")
        if code not in (0, 1):
            print("  " + "\n  ".join(line for _, line in lines[-5:]))


def loop_against_alone(
    tmp: Path, api: str, failing: str, failing_url: str | None, now: datetime
) -> None:
    """One account of four fails: on `failing_url`, or with a wrong key on an emulator."""
    emulators = {
        name: EmulatorServer(
            Emulator(seed=900 + n, agents=10, profile="clean", clock=lambda: now), api_key=KEY
        ).start()
        for n, name in enumerate(("alpha", "beta", "gamma"))
    }
    try:
        urls = {"alpha": emulators["alpha"].base_url, "bad": failing_url or ""}
        if failing_url is None:
            urls["bad"] = emulators["alpha"].base_url
        urls |= {n: emulators[n].base_url for n in ("beta", "gamma")}
        folder = tmp / f"loop-{failing.replace(' ', '-')}"
        folder.mkdir()
        path = write_accounts(folder, urls)
        keys = {f"{n.upper()}_KEY": KEY for n in urls}
        if failing == "rejected key":
            keys["BAD_KEY"] = "not-the-key-0123456789"
        env = clean_env(PREFECT_API_URL=api, VATS_ACCOUNTS=str(path), **keys)
        shutil.rmtree(tmp / "data", ignore_errors=True)
        wall, code, lines = timed("--all-accounts", "daily", env=env)
        marks = [(at, line.split()[-1]) for at, line in lines if line.startswith("== account ")]
        ends = [at for at, _ in marks[1:]] + [wall]
        inside = {name: end - at for (at, name), end in zip(marks, ends, strict=True)}
        told = next((line for _, line in lines if line.startswith("accounts: ")), "")
        print(f"--all-accounts daily, one account failing ({failing}): {wall:.1f} s wall, exit "
              f"{code}; {told}")  # fmt: skip
        shutil.rmtree(tmp / "data", ignore_errors=True)
        for name in urls:
            alone, code, _ = timed("--account", name, "daily", env=env)
            print(f"  {name:6} inside the loop {inside.get(name, float('nan')):5.1f} s; "
                  f"alone {alone:5.1f} s (exit {code})")  # fmt: skip
    finally:
        for server in emulators.values():
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--silent", type=int, default=10)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="vats-failures-bench-"))
    now = datetime.now(UTC).replace(microsecond=0)
    with socket.socket() as listener:  # accepts, never reads: a silent host
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        silent_url = f"http://127.0.0.1:{listener.getsockname()[1]}/crmapi/v1"
        emu = Emulator(seed=7, agents=10, profile="clean", clock=lambda: now)
        with EmulatorServer(emu, api_key=KEY) as good:
            check_accounts(tmp, args.accounts, args.silent, good.base_url, silent_url)
        started = time.monotonic()
        imports = "import vats_etl.cli, vats_etl.flows.daily, vats_etl.pipeline"
        subprocess.run([sys.executable, "-c", imports], check=True, env=clean_env())
        print(f"a process's start and a daily's imports: {time.monotonic() - started:.1f} s")
        (tmp / "server").mkdir()
        with prefect_server(tmp / "server") as api:
            loop_against_alone(tmp, api, "rejected key", None, now)
            loop_against_alone(tmp, api, "silent host", silent_url, now)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
