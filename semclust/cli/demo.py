"""The ``demo`` command: the seed articles in a throw-away store, searched, related and themed."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from semclust.cli.output import _print_hits, _print_json


def _seed_folder() -> Path:
    """The seed articles: ``semclust/_seeds`` in a wheel, ``seeds/`` beside the package in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_seeds", package.parent / "seeds"):
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    raise FileNotFoundError("the demo articles (seeds/) are not installed with this copy of semclust")


def cmd_demo(args: argparse.Namespace) -> int:
    """Index the bundled seed articles into a throw-away store and show what semclust does."""
    from semclust.ingest.readers import read
    from semclust.store.store import Store

    seeds = Path(args.seeds) if args.seeds else _seed_folder()
    tmp = Path(tempfile.mkdtemp(prefix="semclust-demo-"))
    try:
        store = Store.open(tmp / "demo.semclust", progress=not args.quiet and not args.json)
        report = store.add(read(seeds))
        query = args.query
        hits = store.search(query, k=5)
        related = {doc_id: store.related(doc_id, k=5) for doc_id in store.ids()}
        out: dict[str, Any] = {
            "seeds": str(seeds),
            "indexed": report.to_dict(),
            "search": {"query": query, "hits": hits.to_dicts()},
            "related": {d: h.to_dicts() for d, h in related.items()},
        }
        themes = _demo_themes(store)
        if themes is not None:
            out["themes"] = themes
        if args.json:
            _print_json(out)
        else:
            print(f"Indexed {len(store)} articles from {seeds}: {report}\n")
            print("".join(f"  [{doc.id}] {doc.title}\n" for doc in store.documents()))
            _print_hits(hits, f"Search: {query}")
            for doc_id, h in related.items():
                _print_hits(h, f"\nRelated to {doc_id}:")
            if themes is not None:
                print("\nThemes:")
                for t in themes:
                    print(f"  {t.get('theme_id')}: {t.get('name')}  ({t.get('size')} articles)")
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _demo_themes(store: Any) -> list[dict[str, Any]] | None:
    """Themes of the demo store, when the themes extra is installed."""
    from semclust.errors import MissingDependencyError

    try:
        themes = store.themes()
    except MissingDependencyError:
        return None
    return [
        {"theme_id": t["id"], "name": t["name"], "keywords": t["keywords"], "size": t["size"]}
        for t in themes.to_dict()["themes"]
    ]
