"""What every command is given: the options before its name, the settings built from them
lazily, the accounts file; and a command run once per account (--all-accounts).

With an accounts file (VATS_ACCOUNTS or --accounts-file), the settings are those of the
account chosen with --account; --all-accounts runs the command once per account
(:func:`each_account`). Without one, everything comes from the environment.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vats_etl import errors
from vats_etl.cli.failures import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, describe, one_line
from vats_etl.config import Secret, Settings, load_settings, variables, with_overrides

if TYPE_CHECKING:
    from vats_etl.accounts import Accounts


@dataclass
class Context:
    """Options given before the command name; settings are built lazily."""

    overrides: dict[str, Any] = field(default_factory=dict)  # --base-url, --db, --raw-dir, --tz
    env_file: str = ".env"
    verbose: bool = False
    accounts_file: Path | None = None
    account: str | None = None
    all_accounts: bool = False
    _accounts: Accounts | None = field(default=None, init=False, repr=False)

    def accounts(self) -> Accounts | None:
        """The accounts file, if one is configured."""
        if self._accounts is None:
            from vats_etl.accounts import load_accounts

            env = variables(env_file=self.env_file)
            path = self.accounts_file or env.get("VATS_ACCOUNTS")
            if path and str(path).strip():
                self._accounts = load_accounts(Path(str(path).strip()).expanduser(), env)
        return self._accounts

    def require_accounts(self) -> Accounts:
        accounts = self.accounts()
        if accounts is None:
            raise errors.ConfigError("no accounts file: set VATS_ACCOUNTS or give --accounts-file")
        return accounts

    def settings(self, **more: Any) -> Settings:
        """The command's settings; with no zone given, in the PBX's zone when the warehouse
        remembers it (vats_etl.zones)."""
        from vats_etl import zones

        accounts = self.accounts()
        if accounts is None:
            if self.account:
                raise errors.ConfigError(
                    "--account needs an accounts file: set VATS_ACCOUNTS or give --accounts-file"
                )
            own = load_settings({**self.overrides, **more}, env_file=self.env_file)
            return zones.with_remembered(own)
        if self.account is None:
            raise errors.ConfigError(
                f"{accounts.path} lists {len(accounts.names)} accounts "
                f"({', '.join(accounts.names)}): choose one with --account NAME, "
                "or --all-accounts"
            )
        # a command run for an account writes its own warehouse and archive, never those
        # the single account's variables name
        env = variables(env_file=self.env_file)
        for place, variable in (("db_path", "VATS_DB"), ("raw_dir", "VATS_RAW_DIR")):
            accounts.refuse_elsewhere(self.account, place, env.get(variable), variable)
        return self.account_settings(self.account, **more)

    def account_settings(self, name: str, **more: Any) -> Settings:
        """Account `name`'s settings; options given before the command still win, but --db
        and --raw-dir only when they name the account's own warehouse and archive (an
        account never writes another's). With no zone given, the PBX's when the account's
        warehouse remembers it."""
        from vats_etl import zones

        accounts = self.require_accounts()
        changes = {**self.overrides, **more}
        accounts.refuse_elsewhere(name, "db_path", changes.get("db_path"), "--db")
        accounts.refuse_elsewhere(name, "raw_dir", changes.get("raw_dir"), "--raw-dir")
        env = variables(env_file=self.env_file)
        base = load_settings(environ=env, env_file=None)
        return zones.with_remembered(with_overrides(accounts.settings(name, base, env), changes))

    def plain_settings(self) -> Settings:
        """Settings from the environment and options alone, whatever the accounts file says
        (the emulator and the demo are nobody's account)."""
        return load_settings(self.overrides, env_file=self.env_file)


pass_context = click.make_pass_decorator(Context, ensure=True)

# The command line itself is wrong (exit 2), or the user stopped it: the same for every
# account, so these end the loop rather than one account's turn.
_NOT_AN_ACCOUNTS_FAILURE = (click.ClickException, click.exceptions.Exit, click.exceptions.Abort)


def each_account(context: Context, run: Callable[[], int | None]) -> int:
    """Run a command once per account of the accounts file, one after another, and return
    the worst exit code (:func:`worst`) after naming each account's result.

    Whatever one account's run raises is that account's failure, told in one line naming
    it (its traceback first with -v), and the next account runs. Usage errors and
    interruptions end the loop."""
    results: dict[str, int] = {}
    chosen = context.account
    try:
        for name in context.require_accounts().names:
            context.account = name
            click.echo(f"== account {name}", err=True)
            try:
                results[name] = run() or EXIT_OK
            except _NOT_AN_ACCOUNTS_FAILURE:
                raise
            except Exception as exc:
                if context.verbose:
                    traceback.print_exc()
                told = describe(exc, _secrets_of(context, name))
                click.echo(f"error: account {name}: {one_line(told)}", err=True)
                results[name] = EXIT_FAILED
    finally:
        context.account = chosen
    words = {EXIT_OK: "ok", EXIT_PARTIAL: "partial"}
    told = ", ".join(f"{name} {words.get(code, 'failed')}" for name, code in results.items())
    click.echo(f"accounts: {told}", err=True)
    return worst(results.values())


def _secrets_of(context: Context, name: str) -> tuple[Secret | None, ...]:
    """The account's key, CRM token and SMTP password, to mask in a message we did not
    write; none when its settings are what failed."""
    try:
        settings = context.account_settings(name)
    except Exception:
        return ()
    return settings.api_key, settings.crm_token, settings.smtp_password


def worst(codes: Iterable[int]) -> int:
    """Failed (1) over partial (3) over ok (0); any other code counts as failed."""
    found = set(codes)
    if found - {EXIT_OK, EXIT_PARTIAL}:
        return EXIT_FAILED
    return EXIT_PARTIAL if EXIT_PARTIAL in found else EXIT_OK


class EachAccount(click.Command):
    """A per-account command under --all-accounts: the same options and help, run by
    :func:`each_account`."""

    def __init__(self, inner: click.Command) -> None:
        super().__init__(
            inner.name,
            context_settings=inner.context_settings,
            callback=inner.callback,
            params=inner.params,
            help=inner.help,
        )
        self.inner = inner

    def invoke(self, ctx: click.Context) -> int:
        return each_account(ctx.ensure_object(Context), lambda: self.inner.invoke(ctx))
