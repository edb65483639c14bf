"""When the scheduled jobs run unless told otherwise: cron expressions in the zone of the
account they run for (`vats-etl serve`, `vats-etl deploy` and the deployments they make)."""

from __future__ import annotations

DAILY_CRON = "0 6 * * *"  # the daily load: every day at 06:00
WEEKLY_CRON = "0 8 * * 1"  # the weekly email: Mondays at 08:00
DIGEST_CRON = "0 9 * * 1-5"  # the call-back digest: working days (Monday-Friday) at 09:00
DAILY_CRON_VAR = "VATS_DAILY_CRON"
WEEKLY_CRON_VAR = "VATS_WEEKLY_CRON"
DIGEST_CRON_VAR = "VATS_DIGEST_CRON"


def check_cron(expression: str) -> None:
    """Raise ValueError (its first line says what is wrong) unless Prefect's schedules take
    `expression`."""
    from prefect.schedules import Cron  # only the commands that schedule pay for Prefect

    Cron(expression)
