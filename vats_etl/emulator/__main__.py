"""``python -m vats_etl.emulator --port N ...``: run the emulator server until stopped."""

from __future__ import annotations

import argparse
import sys

from vats_etl.emulator.server import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vats_etl.emulator", description="Serve the built-in PBX emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", choices=("realistic", "clean"), default="realistic")
    parser.add_argument(
        "--dialect",
        choices=("spec", "platform"),
        default="platform",
        help="platform: as the platform really answers (type, null, noanswer, login@domain, "
        "no sims); spec: the letter of the spec",
    )
    parser.add_argument(
        "--missing",
        default=None,
        help="endpoints the account lacks, comma-separated: sims, blacklist, telnums "
        "(default: sims for platform, none for spec; '' for none)",
    )
    parser.add_argument("--faults", default="", help='e.g. "latency=20,error=0.1,429=0.05"')
    parser.add_argument("--api-key", default="secret")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--tz", default="Europe/Moscow")
    parser.add_argument("--page-cap", type=int, default=5000)
    parser.add_argument("--csv-shape", choices=("8", "9", "9r", "10"), default="10")
    parser.add_argument("--malformed-rate", type=float, default=0.0)
    parser.add_argument(
        "--prerender-days", type=int, default=0, help="render this many past days at start"
    )
    parser.add_argument(
        "--cache-mb", type=int, default=512, help="memory for rendered days (pre-render: more)"
    )
    parser.add_argument("--crm-url", default=None, help="push webhooks to this URL")
    parser.add_argument("--crm-token", default=None)
    parser.add_argument("--webhook-format", choices=("json", "form"), default="json")
    args = parser.parse_args(argv)
    run(
        args.host,
        args.port,
        args.seed,
        args.profile,
        args.faults,
        args.api_key,
        args.agents,
        crm_url=args.crm_url,
        crm_token=args.crm_token,
        webhook_format=args.webhook_format,
        tz=args.tz,
        page_cap=args.page_cap,
        csv_shape=args.csv_shape if args.csv_shape == "9r" else int(args.csv_shape),
        malformed_rate=args.malformed_rate,
        prerender_days=args.prerender_days,
        cache_mb=args.cache_mb,
        dialect=args.dialect,
        missing_endpoints=None if args.missing is None else _endpoints(args.missing),
        printer=lambda line: print(line, flush=True),
    )


def _endpoints(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


if __name__ == "__main__":
    main(sys.argv[1:])
