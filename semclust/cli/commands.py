"""The ``index``, ``search``, ``related``, ``info``, ``delete``, ``serve`` and ``themes`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semclust.cli.errors import UsageError
from semclust.cli.options import _filters, _how_to_create, _open
from semclust.cli.output import _print_json, _print_tree, _show_hits, print_theme_table
from semclust.errors import EmptyInputError, StoreError


def cmd_index(args: argparse.Namespace) -> int:
    """Read files and add them to a store (created if missing)."""
    from semclust.ingest.readers import read

    fields = {}
    for item in args.field or []:
        ours, sep, theirs = item.partition("=")
        if not sep:
            raise UsageError(f"--field expects OURS=THEIRS (e.g. text=body), got {item!r}", "semclust index")
        fields[ours] = theirs
    if getattr(args, "ray", None) is not None:  # scale-out: semclust.distributed (needs the ray extra)
        from semclust.cli.ray import index_command

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


def cmd_themes(args: argparse.Namespace) -> int:
    """Fit (or load the cached) themes of a store and print them."""
    if getattr(args, "ray", None) is not None:  # fit here, assign every article on Ray
        from semclust.cli.ray import themes_command

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
    print_theme_table(themes, len(themes.article_ids), themes.outlier_share)
    return 0
