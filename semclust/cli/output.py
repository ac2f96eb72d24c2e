"""Printing results: hits, JSON and the theme tree."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _print_hits(hits: Any, header: str) -> None:
    print(header)
    if not len(hits):
        print("  (no results)")
    for i, h in enumerate(hits, 1):
        print(f"{i:>3}. {h.score:.3f}  {h.title or h.doc_id}  [{h.doc_id}]")
        passage = " ".join(h.passage.split())
        print(f"       {passage[:160]}{'…' if len(passage) > 160 else ''}")


def _show_hits(args: argparse.Namespace, hits: Any, key: str, header: str) -> int:
    _print_json({key: hits.query, "hits": hits.to_dicts()}) if args.json else _print_hits(hits, header)
    return 0


def _print_tree(themes: Any, as_json: bool) -> int:
    """Print the theme tree (``semclust themes --tree``): broad themes, then their children."""
    frame = themes.tree()
    if as_json:
        _print_json({"levels": themes.levels, "tree": frame.to_dict(orient="records")})
        return 0
    print("levels: " + ", ".join(f"{name} {n}" for name, n in themes.levels.items()))

    def show(theme_id: int, depth: int) -> None:
        row = frame[frame["theme_id"] == theme_id].iloc[0]
        print(f"{'  ' * depth}{row['theme_id']:>4}  {row['size']:>5}  {row['name']}  ({row['level']})")
        if depth < 1:  # broad and default levels; the fine level is in --json
            for child in frame[frame["parent_id"] == theme_id]["theme_id"].tolist():
                show(int(child), depth + 1)

    for top in frame[frame["parent_id"] == -1]["theme_id"].tolist():
        show(int(top), 0)
    return 0


def print_theme_table(themes: Any, n_articles: int, outlier_share: float, *, note: str = "") -> None:
    """One line per theme (id, size, name) with its keywords, under a one-line summary."""
    print(f"{len(themes)} themes over {n_articles} articles{note}, {outlier_share:.1%} with no theme")
    for t in themes.to_dict()["themes"]:
        print(f"{t['id']:>4}  {t['size']:>5}  {t['name']}")
        print(f"            keywords: {', '.join(t['keywords'][:8])}")
