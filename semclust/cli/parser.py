"""The argument parser: one function per command."""

from __future__ import annotations

import argparse
from typing import Any

from semclust.cli.commands import (
    cmd_delete,
    cmd_index,
    cmd_info,
    cmd_related,
    cmd_search,
    cmd_serve,
    cmd_themes,
)
from semclust.cli.demo import cmd_demo
from semclust.cli.errors import Parser
from semclust.vectors.ann import IVF_THRESHOLD


def build_parser() -> argparse.ArgumentParser:
    """The ``semclust`` argument parser, with every command."""
    from semclust import __version__

    parser = Parser(
        prog="semclust",
        description="Semantic search, related articles and themes for collections of articles.",
    )
    parser.add_argument("--version", action="version", version=f"semclust {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    store_opt = argparse.ArgumentParser(add_help=False)
    store_opt.add_argument("--store", required=True, help="store folder")
    filt = argparse.ArgumentParser(add_help=False)
    filt.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    filt.add_argument("--since", help="only articles published on or after this ISO date")
    filt.add_argument("--until", help="only articles published on or before this ISO date")
    filt.add_argument("--source", help="only articles from this source")
    filt.add_argument(
        "--where",
        action="append",
        metavar="FIELD=VALUE",
        help="metadata filter, repeatable: FIELD=VALUE, also != > >= < <= (words>=300); numbers "
        "are numbers, quote to compare as text ('zip=\"01234\"'); FIELD=A FIELD=B means one of",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_index_parser(sub, [common, store_opt])
    _add_read_parsers(sub, common, store_opt, filt)
    _add_themes_parser(sub, [common, store_opt])
    _add_serve_parser(sub, [common, store_opt])
    _add_demo_parser(sub, [common])
    return parser


def _add_index_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", parents=parents, help="add articles from files or folders to a store")
    p.add_argument("paths", nargs="+", help="folders, .txt/.md/.html files, .jsonl[.gz], .csv")
    p.add_argument("--model", help="embedding model for a new store (default all-MiniLM-L6-v2, bundled)")
    p.add_argument(
        "--backend",
        help="embedding backend for a new store: auto (default: onnx-int8 where the CPU runs int8 "
        "well, else onnx), onnx-int8, onnx or torch",
    )
    p.add_argument("--index", help="FAISS index factory for a new store (default auto: exact, then HNSW)")
    p.add_argument(
        "--ivf-threshold",
        type=int,
        metavar="N",
        help="chunks from which a new store's auto index is a compressed IVF index instead of HNSW "
        f"(default {IVF_THRESHOLD:,})",
    )
    p.add_argument("--field", action="append", metavar="OURS=THEIRS", help="field name mapping: text=body")
    p.add_argument("--skip-errors", action="store_true", help="skip bad files and records, and report them")
    p.add_argument("--no-clean", action="store_true", help="keep page furniture lines")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="run on Ray (local or ADDRESS)")
    p.set_defaults(func=cmd_index)


def _add_read_parsers(sub: Any, common: Any, store_opt: Any, filt: Any) -> None:
    """The commands that read a store: search, related, info, delete."""
    p = sub.add_parser("search", parents=[common, store_opt, filt], help="search a store")
    p.add_argument("query")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("related", parents=[common, store_opt, filt], help="articles related to an article")
    p.add_argument("doc_id")
    p.set_defaults(func=cmd_related)
    p = sub.add_parser("info", parents=[common, store_opt], help="describe a store")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("delete", parents=[common, store_opt], help="delete articles by id")
    p.add_argument("ids", nargs="+")
    p.set_defaults(func=cmd_delete)


def _add_themes_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "themes", parents=parents, help="themes of a store (fitted once, cached until it changes)"
    )
    p.add_argument("--refit", action="store_true", help="fit again even if cached themes are current")
    p.add_argument("--articles", action="store_true", help="with --json: each article's main theme")
    p.add_argument(
        "--level", default=None, metavar="LEVEL",
        help="level of the theme tree: themes (default, chosen from the data), broad, fine, or a number N",
    )
    p.add_argument("--tree", action="store_true", help="print the theme tree (every level) instead")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="run on Ray (local or ADDRESS)")
    p.set_defaults(func=cmd_themes)


def _add_serve_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        parents=parents,
        help="serve a store over HTTP (related articles, search, widget); needs semclust[serve]",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--api-key", help="enables POST/DELETE /documents with this key (default: $SEMCLUST_API_KEY)"
    )
    p.add_argument(
        "--cors-origin", action="append", metavar="ORIGIN", help="allowed CORS origin (repeatable)"
    )
    p.add_argument("--max-k", type=int, default=100, help="largest k a client may ask for (default 100)")
    p.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="log requests (with their X-Request-ID) and errors from this level (default info)",
    )
    p.set_defaults(func=cmd_serve)


def _add_demo_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        parents=parents,
        help="index the bundled seed articles and show search, related articles and themes",
    )
    p.add_argument("--seeds", help="folder of articles to use instead of the bundled seeds")
    p.add_argument("--query", default="Chinese security cooperation with Hungary", help="demo search query")
    p.set_defaults(func=cmd_demo)
