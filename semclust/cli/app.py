"""The ``semclust`` entry point: parse, run the command, map errors to exit statuses."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

from semclust.cli.errors import EXIT_USAGE, UsageError, exit_code, report_error
from semclust.cli.parser import build_parser
from semclust.errors import SemclustError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (a usage error raises ``SystemExit(2)``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = build_parser().parse_args(argv)
        status = int(args.func(args))
        sys.stdout.flush()
        return status
    except BrokenPipeError as err:  # point stdout at /dev/null, so that the final flush cannot fail
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no real stdout in tests
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_code(err)
    except (UsageError, KeyboardInterrupt, SemclustError, FileNotFoundError) as err:
        code = exit_code(err)
        report_error(err, code, as_json)
        if code == EXIT_USAGE:
            raise SystemExit(code) from None
        return code
