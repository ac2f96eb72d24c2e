"""Command-line options turned into library arguments: ``--where``/``--source`` filters, opening the store."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from semclust.cli.errors import UsageError
from semclust.errors import StoreError

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
            raise UsageError(f"--where expects FIELD=VALUE, or != > >= < <= for =, got {item!r}", prog)
        key, op, value = m.group(1).strip(), _WHERE_OPS[m.group(2)], where_value(m.group(3))
        cond = conds.setdefault(key, {})
        if op == "eq":
            cond.setdefault("in", []).append(value)
        elif op in cond:
            raise UsageError(f"--where gives {key}{m.group(2)} twice", prog)
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
            ivf_threshold=getattr(args, "ivf_threshold", None),
            progress=not args.quiet and not args.json,
        )
    except StoreError as err:
        raise _how_to_create(err, args.store) from None


def _how_to_create(err: StoreError, store: str) -> StoreError:
    """The store's "no semclust store" error, saying how to make one from the command line."""
    if not str(err).startswith("no semclust store") or (Path(store) / "manifest.json").exists():
        return err
    return StoreError(f"no semclust store at {store}; create one with: semclust index PATH --store {store}")
