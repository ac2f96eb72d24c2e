"""The ``semclust`` command line.

Commands: ``index``, ``search``, ``related``, ``info``, ``delete``, ``themes``, ``serve``, ``demo``;
each takes ``--json`` and ``-q``. Errors print one line to stderr (with ``--json`` a JSON object
``{"error": {...}}``) and exit with the status :data:`EXIT_CODES` gives: 1 for every semclust
error, 2 for usage, 130 interrupted, 141 when the output's reader went away (``... | head``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from semclust.errors import EmptyInputError, InputError, SemclustError, StoreError

__all__ = ["EXIT_CODES", "exit_code", "main"]

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as for a program the shell saw killed by a closed pipe


class _UsageError(Exception):
    """A bad command line (argparse's errors become this too): one line, then exit status 2."""

    def __init__(self, message: str, prog: str = "semclust") -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (see :func:`main`) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, self.prog)


#: Exit status by kind of error, first match wins: every ``SemclustError`` is 1, a usage error 2.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (_UsageError, EXIT_USAGE),
    (SemclustError, EXIT_ERROR),
    (FileNotFoundError, EXIT_ERROR),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (BrokenPipeError, EXIT_BROKEN_PIPE),
)


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


_WHERE = re.compile(r"([^=<>!]+?)\s*(>=|<=|!=|==|=|>|<)(.*)", re.DOTALL)
_WHERE_OPS = {"=": "eq", "==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def where_value(text: str) -> Any:
    """A ``--where`` value, typed by the rule for CSV columns (``300``, ``2.5`` are numbers, ``007``
    is not); ``true``/``false`` are booleans, a quoted value (``"300"``) and the rest strings.
    """
    from semclust.ingest.records import number_or_text

    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return {"true": True, "false": False}.get(s, number_or_text(s))


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """``--source``, ``--where FIELD<op>VALUE`` as store filters: all must hold (``FIELD=`` twice: one of)."""
    conds: dict[str, dict[str, Any]] = {}
    if getattr(args, "source", None):
        conds["source"] = {"in": [args.source]}
    prog = f"semclust {getattr(args, 'command', '')}"
    for item in getattr(args, "where", None) or []:
        m = _WHERE.fullmatch(item.strip())
        if not m:
            raise _UsageError(f"--where expects FIELD=VALUE, or != > >= < <= for =, got {item!r}", prog)
        key, op, value = m.group(1).strip(), _WHERE_OPS[m.group(2)], where_value(m.group(3))
        cond = conds.setdefault(key, {})
        if op == "eq":
            cond.setdefault("in", []).append(value)
        elif op in cond:
            raise _UsageError(f"--where gives {key}{m.group(2)} twice", prog)
        else:
            cond[op] = value
    return {k: c["in"][0] if list(c) == ["in"] and len(c["in"]) == 1 else c for k, c in conds.items()}


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from semclust.store.store import Store

    try:
        return Store.open(
            args.store,
            create=create,
            model=getattr(args, "model", None),
            backend=getattr(args, "backend", None),
            index=getattr(args, "index", None),
            progress=not args.quiet and not args.json,
        )
    except StoreError as err:
        raise _how_to_create(err, args.store) from None


def _how_to_create(err: StoreError, store: str) -> StoreError:
    """The store's "no semclust store" error, saying how to make one from the command line."""
    if not str(err).startswith("no semclust store") or (Path(store) / "manifest.json").exists():
        return err
    return StoreError(f"no semclust store at {store}; create one with: semclust index PATH --store {store}")


def cmd_index(args: argparse.Namespace) -> int:
    """Read files and add them to a store (created if missing)."""
    from semclust.ingest.readers import read

    fields = {}
    for item in args.field or []:
        ours, sep, theirs = item.partition("=")
        if not sep:
            raise _UsageError(f"--field expects OURS=THEIRS (e.g. text=body), got {item!r}", "semclust index")
        fields[ours] = theirs
    if getattr(args, "ray", None) is not None:  # scale-out: semclust.distributed (needs the ray extra)
        from semclust.distributed.command import index_command

        return index_command(args, fields)
    store = _open(args, create=True)
    articles = read(
        [Path(p) for p in args.paths],
        fields=fields or None,
        clean=not args.no_clean,
        skip_errors=args.skip_errors,
    )
    try:
        report = store.add(articles)
    except EmptyInputError as err:
        if err.path is not None:
            raise
        n, skipped = len(articles.skipped), "; ".join(str(x) for x in articles.skipped[:3])
        more = f"{n} skipped: {skipped}" + (f" and {n - 3} more" if n > 3 else "")
        where = ", ".join(args.paths)
        raise EmptyInputError(
            f"no articles to add: none read from {where}" + (f" ({more})" if n else "")
        ) from None
    if args.json:
        _print_json({**report.to_dict(), "store": str(store.path), "articles_in_store": len(store)})
    else:
        print(f"{store.path}: {report}; {len(store)} articles in store")
        for s in report.skipped:
            print(f"skipped: {s}", file=sys.stderr)
    store.close()
    return 0


def _show_hits(args: argparse.Namespace, hits: Any, key: str, header: str) -> int:
    _print_json({key: hits.query, "hits": hits.to_dicts()}) if args.json else _print_hits(hits, header)
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
    info = _open(args).info()
    if args.json:
        _print_json(info)
        return 0
    m, c, st = info["model"], info["chunking"], info.get("index_state") or {}
    q = m.get("quantization")
    quant = "float32, no quantisation"
    if isinstance(q, dict):
        quant = f"dynamic int8: {q.get('weight_type')} weights" + (
            ", per channel" if q.get("per_channel") else ""
        )
    shown = {"factory": st.get("factory"), **(st.get("params") or {}), "recall@10": st.get("recall_at_10")}
    detail = ", ".join(f"{k} {v}" for k, v in shown.items() if v is not None)
    chosen = (st.get("kind") or st.get("factory") or "none yet") + (f" ({detail})" if detail else "")
    lines = [
        f"store:      {info['path']} (format {info['format_version']}, generation {info['generation']})",
        f"articles:   {info['articles']} ({info['duplicates']} duplicates), {info['chunks']} chunks",
        f"model:      {m['name']} ({m['dimension']}-d, fingerprint {m['fingerprint']})",
        f"backend:    {m['backend']} ({quant})",
        f"chunking:   {c['max_tokens']} tokens, overlap {c['overlap']} sentences, "
        f"title context {c['title_context']}",
        f"index:      {info['index']['factory']} -> {chosen}",
        f"related:    {info['related']['k']} per article, precomputed at each commit",
        f"disk:       {info['bytes_on_disk'] / 1e6:.1f} MB",
    ]
    print("\n".join(lines))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete articles by id."""
    store = _open(args)
    report = store.delete(args.ids)
    _print_json(report.to_dict()) if args.json else print(f"{store.path}: {report}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a store over HTTP (related articles, search, documents, themes, widget)."""
    from semclust.server.app import serve
    from semclust.store.store import Store

    try:
        Store.open(args.store, create=False).close()  # a clear error before the server starts
    except StoreError as err:
        raise _how_to_create(err, args.store) from None
    serve(
        args.store,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        cors_origins=tuple(args.cors_origin or ()),
        max_k=args.max_k,
        log_level=args.log_level,
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


def cmd_themes(args: argparse.Namespace) -> int:
    """Fit (or load the cached) themes of a store and print them."""
    if getattr(args, "ray", None) is not None:  # fit here, assign every article on Ray
        from semclust.distributed.command import themes_command

        return themes_command(args)
    store = _open(args)
    level = getattr(args, "level", None)
    themes = store.themes(
        refit=args.refit, progress=not args.quiet and not args.json,
        level=int(level) if level and level.isdigit() else level,
    )
    if getattr(args, "tree", False):
        return _print_tree(themes, args.json)
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


def _build_parser() -> argparse.ArgumentParser:
    from semclust import __version__

    parser = _Parser(
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


def exit_code(err: BaseException) -> int:
    """The exit status for an error: the one mapping of the CLI (see :data:`EXIT_CODES`)."""
    for kind, code in EXIT_CODES:
        if isinstance(err, kind):
            return code
    raise err


def _report(err: BaseException, code: int, as_json: bool) -> None:
    """Print an error as one line on stderr: text, or with ``--json`` a JSON object."""
    message = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
    if isinstance(err, _UsageError):
        message += f" (see: {err.prog} --help)"
    if not as_json:
        print(f"semclust: {'error: ' if code != EXIT_INTERRUPTED else ''}{message}", file=sys.stderr)
        return
    kind = "UsageError" if isinstance(err, _UsageError) else type(err).__name__
    body: dict[str, Any] = {"type": kind, "message": message, "exit_code": code}
    if isinstance(err, InputError):
        body.update(path=err.path, line=err.line, field=err.field)
    print(json.dumps({"error": body}, ensure_ascii=False), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (a usage error raises ``SystemExit(2)``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = _build_parser().parse_args(argv)
        status = int(args.func(args))
        sys.stdout.flush()
        return status
    except BrokenPipeError as err:  # point stdout at /dev/null, so that the final flush cannot fail
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no real stdout in tests
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_code(err)
    except (_UsageError, KeyboardInterrupt, SemclustError, FileNotFoundError) as err:
        code = exit_code(err)
        _report(err, code, as_json)
        if code == EXIT_USAGE:
            raise SystemExit(code) from None
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
