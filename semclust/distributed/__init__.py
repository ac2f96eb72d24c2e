"""Scale-out on Ray: build and theme stores larger than one machine embeds in good time.

>>> from semclust.distributed import build
>>> build(["archive/part-*.jsonl.gz"], "archive.semclust")          # a local Ray on this machine
>>> build(["/nfs/archive/"], "/nfs/archive.semclust", address="auto")  # a running cluster

Needs ``pip install 'semclust[ray]'``; without it every entry point raises a one-line
:class:`~semclust.errors.MissingDependencyError`. Ray is imported only here, and only when a
function runs: ``import semclust`` (or this module) never imports it.
"""

from __future__ import annotations

from semclust.distributed.build import DEFAULT_BATCH_SIZE, BuildReport, build, build_folder
from semclust.distributed.store_themes import store_themes
from semclust.distributed.themes import assign_themes

__all__ = ["DEFAULT_BATCH_SIZE", "BuildReport", "assign_themes", "build", "build_folder", "store_themes"]
