"""Commands that serve until stopped: the PBX emulator, the webhook receiver, and the
schedules (`serve`). `python -m vats_etl.emulator` runs the emulator command here too."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from vats_etl import errors, schedules
from vats_etl.cli import options
from vats_etl.cli.context import Context, pass_context


def _missing_endpoints(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if value is None:
        return None
    from vats_etl.emulator.core import OPTIONAL_ENDPOINTS

    chosen = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(OPTIONAL_ENDPOINTS))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: choose from {', '.join(OPTIONAL_ENDPOINTS)}",
            param_hint="--missing",
        )
    return chosen


def _not_implemented(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    from vats_etl.emulator.core import UNIMPLEMENTABLE

    chosen = tuple(name.strip() for name in (value or "").split(",") if name.strip())
    unknown = sorted(set(chosen) - set(UNIMPLEMENTABLE))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: choose from {', '.join(UNIMPLEMENTABLE)}",
            param_hint="--not-implemented",
        )
    return chosen


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="TCP port (0: any free port).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Synthetic company seed.")
@click.option(
    "--agents",
    type=click.IntRange(5, 900),
    default=200,
    show_default=True,
    help="Employees of the synthetic company.",
)
@click.option(
    "--profile",
    type=click.Choice(["realistic", "clean"]),
    default="realistic",
    show_default=True,
    help="realistic: the quirks of real payloads; clean: none.",
)
@options.dialect
@click.option(
    "--missing",
    callback=_missing_endpoints,
    help="Endpoints the account lacks, comma-separated: sims, blacklist, telnums, domain "
    "[default: sims for the platform's dialect, domain for the spec's; '' for none].",
)
@click.option(
    "--not-implemented",
    callback=_not_implemented,
    help="History formats the account answers 501 Not Implemented on, comma-separated: "
    "history/json, history/csv.",
)
@click.option(
    "--faults", default="", help='Injected faults, e.g. "latency=20,error=0.1,429=0.05,drop=0.02".'
)
@click.option("--api-key", envvar="VATS_API_KEY", help="Key to accept [VATS_API_KEY].")
@click.option("--crm-url", help="Push spec section 2 webhooks to this URL as calls complete.")
@click.option("--crm-token", envvar="VATS_CRM_TOKEN", help="crm_token for pushed webhooks.")
@click.option(
    "--webhook-format",
    type=click.Choice(["json", "form"]),
    default="json",
    show_default=True,
    help="How pushed webhooks are encoded (form: application/x-www-form-urlencoded).",
)
@click.option("--prerender-days", type=click.IntRange(0, 3660), default=0, help="Warm cache.")
@click.option(
    "--cache-mb",
    type=click.IntRange(1),
    default=512,
    show_default=True,
    help="Memory for rendered days (pre-rendering many days needs more).",
)
@click.option(
    "--page-cap",
    type=click.IntRange(1),
    default=5000,
    show_default=True,
    help="Most history rows in one answer (the API's limit).",
)
@click.option(
    "--csv-shape",
    type=click.Choice(["8", "9", "9r", "10"]),
    default="10",
    show_default=True,
    help="Columns of the external history's CSV: 8, 9 (with account), 9r (with rating) or 10.",
)
@click.option(
    "--malformed-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of history rows served malformed.",
)
@pass_context
def emulator(
    ctx: Context,
    host: str,
    port: int,
    seed: int,
    agents: int,
    profile: str,
    dialect: str,
    missing: tuple[str, ...] | None,
    not_implemented: tuple[str, ...],
    faults: str,
    api_key: str | None,
    crm_url: str | None,
    crm_token: str | None,
    webhook_format: str,
    prerender_days: int,
    cache_mb: int,
    page_cap: int,
    csv_shape: str,
    malformed_rate: float,
) -> int:
    """Run the built-in PBX emulator (a deterministic synthetic company) until Ctrl-C or
    SIGTERM. Its first line on stdout names the API's base URL; the company's zone is
    VATS_TZ."""
    from vats_etl.emulator.faults import Faults
    from vats_etl.emulator.server import run

    if not api_key:
        raise click.BadParameter("give --api-key or set VATS_API_KEY", param_hint="--api-key")
    try:
        Faults.parse(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    run(
        host,
        port,
        seed,
        profile,
        faults,
        api_key,
        agents,
        crm_url=crm_url,
        crm_token=crm_token,
        webhook_format=webhook_format,
        tz=ctx.plain_settings().tz,
        page_cap=page_cap,
        csv_shape=csv_shape if csv_shape == "9r" else int(csv_shape),
        malformed_rate=malformed_rate,
        prerender_days=prerender_days,
        cache_mb=cache_mb,
        dialect=dialect,
        missing_endpoints=missing,
        not_implemented=not_implemented,
        printer=lambda line: click.echo(f"emulator listening on {line} (Ctrl-C stops)"),
    )
    return 0


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0: all).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8088,
    show_default=True,
    help="TCP port (0: any free port).",
)
@click.option("--path", "url_path", default="/", show_default=True, help="URL path the PBX posts.")
@click.option(
    "--spool-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write-ahead spool folder [default: webhook-spool next to the DB].",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024, 16 << 20),
    default=64 * 1024,
    show_default=True,
    help="Largest accepted body in bytes (larger: 413).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Serve HTTPS with this certificate (PEM; the chain after it).",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The certificate's private key (PEM) [default: in --ssl-certfile].",
)
@click.option(
    "--limit-concurrency",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Most connections open at once (past it the longest idle one is closed) and most "
    "webhooks in flight (past it: 503). Capped by the open-files limit.",
)
@click.option(
    "--timeout-keep-alive",
    type=click.IntRange(1, 3600),
    default=75,
    show_default=True,
    help="Seconds an idle connection is kept open.",
)
@pass_context
def webhook(
    ctx: Context,
    host: str,
    port: int,
    url_path: str,
    spool_dir: Path | None,
    max_body: int,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
    limit_concurrency: int,
    timeout_keep_alive: int,
) -> int:
    """Receive the PBX's webhooks (history, event, contact, rating) in real time.

    Needs VATS_CRM_TOKEN (the crm_token set in the PBX cabinet). Every accepted request is
    on disk before it is answered and reaches the DuckDB file within about a second; while
    that cannot be done, webhooks are answered 503 (the PBX retries) and GET /health says
    why. The receiver stops on Ctrl-C or SIGTERM after applying what it holds. See
    docs/webhook.md (systemd unit, reverse proxy).
    """
    from vats_etl import warehouse
    from vats_etl.webhook import ReceiverConfig, run, summary

    settings = ctx.settings()
    if not settings.crm_token:
        raise errors.ConfigError(
            "VATS_CRM_TOKEN is not set (the crm_token entered in the PBX cabinet)"
        )
    config = ReceiverConfig(
        db_path=settings.db_path,
        token=settings.crm_token,
        company=warehouse.Company.from_settings(settings),
        spool_dir=spool_dir,
        host=host,
        port=port,
        path=url_path,
        max_body_bytes=max_body,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        limit_concurrency=limit_concurrency,
        keep_alive_s=timeout_keep_alive,
        lock_timeout_s=min(settings.db_lock_timeout_s, 5.0),
    )

    def ready(receiver: Any) -> None:
        click.echo(
            f"listening on {receiver.url} (warehouse {settings.db_path}, spool {config.spool});"
            " Ctrl-C stops"
        )
        sys.stdout.flush()

    receiver = run(config, on_ready=ready)
    click.echo(f"stopped: {summary(receiver)}", err=True)
    return 0


@click.command()
@options.daily_cron(f"When the daily load runs, cron in VATS_TZ [{schedules.DAILY_CRON_VAR}].")
@options.weekly_cron(f"When the weekly email goes, cron in VATS_TZ [{schedules.WEEKLY_CRON_VAR}].")
@options.digest_cron(
    f"When the call-back digest goes, cron in VATS_TZ [{schedules.DIGEST_CRON_VAR}]."
)
@options.routing("Routing file for the weekly email and the digest [VATS_EMAIL_ROUTING].")
@pass_context
def serve(
    ctx: Context, daily_cron: str, weekly_cron: str, digest_cron: str, routing: Path | None
) -> int:
    """Register the daily load, the weekly email and the call-back digest as Prefect
    deployments, scheduled in VATS_TZ, and run them until Ctrl-C or SIGTERM.

    Needs a Prefect server (`prefect server start`) at PREFECT_API_URL; runs, logs and the
    schedules show in its UI. See docs/operations.md (also for a systemd unit). With
    --account, the deployments are that account's (vats-daily/NAME, vats-weekly-email/NAME,
    vats-callback-digest/NAME);
    many accounts on many hosts: `vats-etl deploy` (docs/scale.md).
    """
    from dotenv import load_dotenv

    settings = ctx.settings()
    settings.require_api()
    # flow runs are subprocesses that build their settings from the environment
    if Path(ctx.env_file).is_file():
        load_dotenv(ctx.env_file, override=False)
    accounts = ctx.accounts() if settings.account else None
    if accounts is not None:  # flow runs read the account from the file, keys from the env
        os.environ["VATS_ACCOUNTS"] = str(accounts.path.resolve())
    names = {"base_url": "VATS_BASE_URL", "db_path": "VATS_DB", "raw_dir": "VATS_RAW_DIR"}
    for name, var in (*names.items(), ("tz", "VATS_TZ")):
        value = ctx.overrides.get(name)
        if value is not None:
            os.environ[var] = str(value)
    # a service's log is watched: undo the quiet set-up of one-shot commands (process.set_up)
    if os.environ.get("PREFECT_LOGGING_LEVEL") == "WARNING":
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    if os.environ.get("PREFECT_LOGGING_TO_API_ENABLED") == "false":
        os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "true"
    from vats_etl import prefect_api

    api = prefect_api.ready()  # PREFECT_API_URL, or a temporary server as for any command
    if prefect_api.temporary():
        click.echo(
            "warning: PREFECT_API_URL is not set: a temporary Prefect API lives only as long "
            "as this process (no UI); see docs/operations.md",
            err=True,
        )
        api = f"a temporary Prefect API ({api})"
    from vats_etl.flows.serve import DAILY_DEPLOYMENT, DIGEST_DEPLOYMENT, WEEKLY_DEPLOYMENT
    from vats_etl.flows.serve import serve as serve_flows

    daily_name, weekly_name, digest_name = DAILY_DEPLOYMENT, WEEKLY_DEPLOYMENT, DIGEST_DEPLOYMENT
    if settings.account:
        daily_name = f"{daily_name.split('/')[0]}/{settings.account}"
        weekly_name = f"{weekly_name.split('/')[0]}/{settings.account}"
        digest_name = f"{digest_name.split('/')[0]}/{settings.account}"
    click.echo(
        f"serving {daily_name} ({daily_cron}), {weekly_name} ({weekly_cron}) and "
        f"{digest_name} ({digest_cron}), {settings.tz}, against {api}; Ctrl-C stops"
    )
    sys.stdout.flush()
    serve_flows(
        tz=settings.tz,
        daily_cron=daily_cron,
        weekly_cron=weekly_cron,
        digest_cron=digest_cron,
        routing=str(routing.resolve()) if routing else None,
        account=settings.account,
    )
    return 0
