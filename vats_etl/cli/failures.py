"""How a command ends: its exit code, and a failure told in one line on stderr.

Exit codes: 0 success; 1 failure; 2 usage error; 3 partial success (everything loaded but
some rows were quarantined); 130 interrupted. A failure is one line, ``error: ...``, with no
traceback for expected errors (errors.VatsError, and what the operating system says about
files and disks); with -v its traceback comes first.
"""

from __future__ import annotations

import click

from vats_etl import errors

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
    return errors.describe(exc)


# Any failure in a few words, secrets masked (the library's accounts checks use it too).
describe = errors.describe
