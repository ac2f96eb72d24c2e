"""The ``--ray [ADDRESS]`` variants of ``semclust index`` and ``semclust themes``.

The commands call these when ``--ray`` is given (importing :mod:`semclust.distributed` only
then); they print what the single-process commands print. ``--ray`` alone starts a local
Ray; ``--ray auto`` joins the cluster that ``ray start`` runs on this machine; any other value
is a Ray address.
"""

from __future__ import annotations

import argparse
import sys

from semclust.cli.output import _print_json, print_theme_table
from semclust.distributed.build import build
from semclust.distributed.store_themes import store_themes
from semclust.store.store import Store

__all__ = ["LOCAL", "index_command", "ray_address", "themes_command"]

#: The value of a bare ``--ray``: a local Ray on this machine's cores.
LOCAL = "local"


def ray_address(value: str) -> str | None:
    """The Ray address of a ``--ray`` value (``None``: start a local Ray)."""
    return None if value == LOCAL else value


def index_command(args: argparse.Namespace, fields: dict[str, str]) -> int:
    """``semclust index PATHS --store DIR --ray [ADDRESS]``."""
    show = not args.quiet and not args.json
    report = build(
        args.paths, args.store, address=ray_address(args.ray), model=getattr(args, "model", None),
        backend=getattr(args, "backend", None), fields=fields or None, clean=not args.no_clean,
        skip_errors=args.skip_errors, progress=show,
        **({"index": args.index} if getattr(args, "index", None) else {}),
        **({} if getattr(args, "ivf_threshold", None) is None else {"ivf_threshold": args.ivf_threshold}),
    )
    with Store.open(args.store, create=False) as st:
        n = len(st)
    if args.json:
        extra = {"shards": report.shards, "shards_reused": report.shards_reused, "workers": report.workers,
                 "embedded_at_commit": report.embedded_at_commit}
        _print_json({**report.to_dict(), "ray": extra, "store": args.store, "articles_in_store": n})
    else:
        print(f"{args.store}: {report}; {n} articles in store")
        for s in report.skipped:
            print(f"skipped: {s}", file=sys.stderr)
    return 0


def themes_command(args: argparse.Namespace) -> int:
    """``semclust themes --store DIR --ray [ADDRESS]``: fit on this machine, assign on Ray."""
    show = not args.quiet and not args.json
    themes, ids, assignment = store_themes(
        args.store, address=ray_address(args.ray), refit=args.refit, progress=show
    )
    if args.json:
        data = themes.to_dict(articles=False)
        if args.articles:
            mains = assignment.main.tolist()
            data["articles"] = [{"doc_id": d, "theme_id": int(t)} for d, t in zip(ids, mains)]
        _print_json(data)
        return 0
    share = assignment.n_outliers / max(1, len(ids))
    print_theme_table(themes, len(ids), share, note=" (assigned on Ray)")
    return 0
