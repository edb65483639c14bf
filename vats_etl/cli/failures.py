"""How a command ends: its exit code, and a failure told in one line on stderr.

Exit codes: 0 success; 1 failure; 2 usage error; 3 partial success (everything loaded but
some rows were quarantined); 130 interrupted. A failure is one line, ``error: ...``, with no
traceback for expected errors (errors.VatsError, and what the operating system says about
files and disks); with -v its traceback comes first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from vats_etl import errors

if TYPE_CHECKING:
    from vats_etl.config import Secret

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130


def one_line(message: str) -> str:
    """The message with its line breaks and runs of spaces as single spaces."""
    return " ".join(message.split())


def fail(message: str) -> int:
    """Tell a failure in one line; the command returns what this returns."""
    click.echo(f"error: {one_line(message)}", err=True)
    return EXIT_FAILED


def os_error(exc: OSError) -> str:
    """What the operating system said, naming the file: `out/x.html: No space left on device`."""
    if exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def describe(exc: BaseException, secrets: Iterable[Secret | None] = ()) -> str:
    """Any failure in a few words: an expected error's own message (written for users, never
    with a secret in it), what the operating system said, or else the exception's type and
    its message, with any of `secrets` in it masked. A UnicodeError leaves out the text it
    could not encode or decode: that text may be an API key or a password."""
    return _masked(_described(exc), secrets)


def _masked(text: str, secrets: Iterable[Secret | None]) -> str:
    for secret in secrets:
        value = secret.reveal() if secret else ""
        if value:
            text = text.replace(value, "********")
    return text


def _described(exc: BaseException) -> str:
    if isinstance(exc, errors.VatsError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_error(exc)
    if isinstance(exc, UnicodeEncodeError):
        return f"{type(exc).__name__}: a character {exc.encoding} cannot encode ({exc.reason})"
    if isinstance(exc, UnicodeDecodeError):
        return f"{type(exc).__name__}: bytes that are not {exc.encoding} ({exc.reason})"
    if isinstance(exc, UnicodeError):
        return type(exc).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
