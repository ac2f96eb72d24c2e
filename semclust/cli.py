"""The ``semclust`` command line.

Commands: ``index``, ``search``, ``related``, ``info``, ``delete``, ``demo`` (and ``themes``,
``serve`` where those stages are installed). Every command takes ``--json``; errors print one
line to stderr and exit with status 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_USAGE = 2


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


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "source", None):
        out["source"] = args.source
    for item in getattr(args, "where", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"--where expects FIELD=VALUE, got {item!r}")
        out[key] = value
    return out


class _UsageError(Exception):
    pass


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from semclust.store.store import Store

    return Store.open(
        args.store,
        create=create,
        model=getattr(args, "model", None),
        backend=getattr(args, "backend", None),
        index=getattr(args, "index", None),
        progress=not args.quiet and not args.json,
    )


def cmd_index(args: argparse.Namespace) -> int:
    """Read files and add them to a store (created if missing)."""
    from semclust.ingest.readers import read

    store = _open(args, create=True)
    fields = {}
    for item in args.field or []:
        ours, sep, theirs = item.partition("=")
        if not sep:
            raise _UsageError(f"--field expects OURS=THEIRS (e.g. text=body), got {item!r}")
        fields[ours] = theirs
    articles = read(
        [Path(p) for p in args.paths],
        fields=fields or None,
        clean=not args.no_clean,
        skip_errors=args.skip_errors,
    )
    report = store.add(articles)
    if args.json:
        _print_json({**report.to_dict(), "store": str(store.path), "articles_in_store": len(store)})
    else:
        print(f"{store.path}: {report}; {len(store)} articles in store")
        for s in report.skipped:
            print(f"skipped: {s}", file=sys.stderr)
    store.close()
    return 0


def _show_hits(args: argparse.Namespace, hits: Any, key: str, header: str) -> int:
    if args.json:
        _print_json({key: hits.query, "hits": hits.to_dicts()})
    else:
        _print_hits(hits, header)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search a store with a text query."""
    store = _open(args)
    hits = store.search(args.query, k=args.k, since=args.since, until=args.until, filters=_filters(args))
    return _show_hits(args, hits, "query", f"Search: {args.query}")


def cmd_related(args: argparse.Namespace) -> int:
    """Articles related to a stored article."""
    store = _open(args)
    hits = store.related(args.doc_id, k=args.k, since=args.since, until=args.until, filters=_filters(args))
    return _show_hits(args, hits, "doc_id", f"Related to {args.doc_id}:")


def cmd_info(args: argparse.Namespace) -> int:
    """Describe a store."""
    store = _open(args)
    info = store.info()
    if args.json:
        _print_json(info)
    else:
        m, c, ix = info["model"], info["chunking"], info["index"]
        print(
            f"store:      {info['path']} (format {info['format_version']}, generation {info['generation']})"
        )
        print(f"articles:   {info['articles']} ({info['duplicates']} duplicates), {info['chunks']} chunks")
        q = m.get("quantization")
        quant = (
            f"dynamic int8: {q.get('weight_type')} weights"
            + (", per channel" if q.get("per_channel") else "")
            if isinstance(q, dict)
            else "float32, no quantisation"
        )
        print(f"model:      {m['name']} ({m['dimension']}-d, fingerprint {m['fingerprint']})")
        print(f"backend:    {m['backend']} ({quant})")
        print(
            f"chunking:   {c['max_tokens']} tokens, overlap {c['overlap']} sentences, "
            f"title context {c['title_context']}"
        )
        st = info.get("index_state") or {}
        chosen = st.get("kind") or st.get("factory") or "none yet"
        shown = {"factory": st.get("factory"), **(st.get("params") or {})}
        shown["recall@10"] = st.get("recall_at_10")
        detail = ", ".join(f"{k} {v}" for k, v in shown.items() if v is not None)
        print(f"index:      {ix['factory']} -> {chosen}" + (f" ({detail})" if detail else ""))
        print(f"related:    {info['related']['k']} per article, precomputed at each commit")
        print(f"disk:       {info['bytes_on_disk'] / 1e6:.1f} MB")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete articles by id."""
    store = _open(args)
    report = store.delete(args.ids)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{store.path}: {report}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a store over HTTP (related articles, search, documents, themes, widget)."""
    from semclust.server.app import serve
    from semclust.store.store import Store

    Store.open(args.store, create=False).close()  # a clear error before the server starts
    serve(
        args.store,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        cors_origins=tuple(args.cors_origin or ()),
        max_k=args.max_k,
    )
    return 0


def _seed_folder() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_seeds", here.parent / "seeds"):
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
            for doc in store.documents():
                print(f"  [{doc.id}] {doc.title}")
            print()
            _print_hits(hits, f"Search: {query}")
            for doc_id, h in related.items():
                print()
                _print_hits(h, f"Related to {doc_id}:")
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


def cmd_themes(args: argparse.Namespace) -> int:
    """Fit (or load the cached) themes of a store and print them."""
    store = _open(args)
    themes = store.themes(refit=args.refit, progress=not args.quiet and not args.json)
    if args.json:
        _print_json(themes.to_dict(articles=args.articles))
        return 0
    print(
        f"{len(themes)} themes over {themes.to_dict()['n_articles']} articles, "
        f"{themes.outlier_share:.1%} with no theme"
    )
    for t in themes.to_dict()["themes"]:
        print(f"{t['id']:>4}  {t['size']:>5}  {t['name']}")
        print(f"            keywords: {', '.join(t['keywords'][:8])}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    from semclust import __version__

    parser = argparse.ArgumentParser(
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
    filt.add_argument("--where", action="append", metavar="FIELD=VALUE", help="metadata filter (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "index", parents=[common, store_opt], help="add articles from files or folders to a store"
    )
    p.add_argument("paths", nargs="+", help="folders, .txt/.md/.html files, .jsonl[.gz], .csv")
    p.add_argument("--model", help="embedding model for a new store (default all-MiniLM-L6-v2, bundled)")
    p.add_argument(
        "--backend",
        help="embedding backend for a new store: auto (default: onnx-int8 where the CPU runs int8 "
        "well, else onnx), onnx-int8, onnx or torch",
    )
    p.add_argument(
        "--index",
        help="FAISS index factory string for a new store (default auto: exact while small, then HNSW)",
    )
    p.add_argument(
        "--field", action="append", metavar="OURS=THEIRS", help="field name mapping, e.g. text=body"
    )
    p.add_argument("--skip-errors", action="store_true", help="skip bad files and records, and report them")
    p.add_argument("--no-clean", action="store_true", help="keep page furniture lines")
    p.set_defaults(func=cmd_index)

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

    p = sub.add_parser(
        "themes", parents=[common, store_opt], help="themes of a store (fitted once, cached until it changes)"
    )
    p.add_argument("--refit", action="store_true", help="fit again even if cached themes are current")
    p.add_argument("--articles", action="store_true", help="with --json: each article's main theme")
    p.set_defaults(func=cmd_themes)

    p = sub.add_parser(
        "serve",
        parents=[store_opt],
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
    p.set_defaults(func=cmd_serve, json=False, quiet=True)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="index the bundled seed articles and show search, related articles and themes",
    )
    p.add_argument("--seeds", help="folder of articles to use instead of the bundled seeds")
    p.add_argument("--query", default="Chinese security cooperation with Hungary", help="demo search query")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from semclust.errors import SemclustError

    try:
        return int(args.func(args))
    except _UsageError as err:
        parser.error(str(err))
    except SemclustError as err:
        print(f"semclust: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except FileNotFoundError as err:
        print(f"semclust: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("semclust: interrupted", file=sys.stderr)
        return 130
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
