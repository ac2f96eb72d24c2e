"""The ``semclust`` command line.

Commands: ``index``, ``search``, ``related``, ``info``, ``delete``, ``themes``, ``serve``, ``demo``;
each takes ``--json`` and ``-q``. Errors print one line to stderr (with ``--json`` a JSON object
``{"error": {...}}``) and exit with the status :data:`EXIT_CODES` gives: 1 for every semclust
error, 2 for usage, 130 interrupted, 141 when the output's reader went away (``... | head``).
"""

from __future__ import annotations

from semclust.cli.app import main
from semclust.cli.errors import EXIT_CODES, exit_code
from semclust.cli.options import where_value

__all__ = ["EXIT_CODES", "exit_code", "main", "where_value"]
