"""How the command line reports errors: one line on stderr (JSON with ``--json``), and the exit
status of each kind of error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from semclust.errors import InputError, SemclustError

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as for a program the shell saw killed by a closed pipe


class UsageError(Exception):
    """A bad command line (argparse's errors become this too): one line, then exit status 2."""

    def __init__(self, message: str, prog: str = "semclust") -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (see :func:`main`) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        """Raise the one-line :class:`UsageError` instead of printing usage and exiting."""
        raise UsageError(message, self.prog)


#: Exit status by kind of error, first match wins: every ``SemclustError`` is 1, a usage error 2.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, EXIT_USAGE),
    (SemclustError, EXIT_ERROR),
    (FileNotFoundError, EXIT_ERROR),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (BrokenPipeError, EXIT_BROKEN_PIPE),
)


def exit_code(err: BaseException) -> int:
    """The exit status for an error: the one mapping of the CLI (see :data:`EXIT_CODES`)."""
    for kind, code in EXIT_CODES:
        if isinstance(err, kind):
            return code
    raise err


def report_error(err: BaseException, code: int, as_json: bool) -> None:
    """Print an error as one line on stderr: text, or with ``--json`` a JSON object."""
    message = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
    if isinstance(err, UsageError):
        message += f" (see: {err.prog} --help)"
    if not as_json:
        print(f"semclust: {'error: ' if code != EXIT_INTERRUPTED else ''}{message}", file=sys.stderr)
        return
    kind = "UsageError" if isinstance(err, UsageError) else type(err).__name__
    body: dict[str, Any] = {"type": kind, "message": message, "exit_code": code}
    if isinstance(err, InputError):
        body.update(path=err.path, line=err.line, field=err.field)
    print(json.dumps({"error": body}, ensure_ascii=False), file=sys.stderr)
