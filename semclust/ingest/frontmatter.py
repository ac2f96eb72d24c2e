"""Markdown front matter, parsed as YAML so that lists, numbers and dates keep their types.

The YAML is read with a safe loader and YAML 1.2's plain-value rules rather than PyYAML's
YAML 1.1 ones: only ``true``/``false`` are booleans (``country: NO`` stays the string ``"NO"``),
integers are decimal without leading zeros (``zip: 01234`` stays a string, ``1:30`` is not 90),
``.nan``/``.inf`` stay strings. Dates (``date: 2024-03-01``) become ISO strings. Front matter
that is not valid YAML (e.g. ``title: China: the new power``) falls back to the simple
``key: value`` reading of earlier versions, every value a string.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from semclust.errors import RecordError
from semclust.ingest.fields import check_values

__all__ = ["parse_front_matter"]

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


@lru_cache(maxsize=1)
def _loader() -> Any:
    import yaml

    class FrontMatterLoader(yaml.SafeLoader):
        """SafeLoader with YAML 1.2 core-schema booleans and numbers."""

    FrontMatterLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    FrontMatterLoader.add_implicit_resolver(
        _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    FrontMatterLoader.add_implicit_resolver(
        _INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
    )
    FrontMatterLoader.add_implicit_resolver(
        _FLOAT,
        re.compile(
            r"^[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?|(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+)$"
        ),
        list("-+0123456789"),
    )
    return FrontMatterLoader


def _simple(block: str) -> dict[str, Any]:
    front: dict[str, Any] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            front[key.strip()] = value.strip().strip("\"'")
    return front


def _jsonable(value: Any, path: Path, key: str) -> Any:
    """YAML values as JSON values: dates as ISO strings, keys as strings, sets as lists."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v, path, key) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, path, key) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise RecordError(f"front matter: a {type(value).__name__} value is not supported", path=path, field=key)


def parse_front_matter(block: str, path: Path) -> dict[str, Any]:
    """The fields of one front-matter block (the text between the ``---`` lines).

    ``published``/``date`` keep their date type (for :func:`~semclust._types.normalize_published`);
    every other value is made JSON-like (dates as ISO strings).
    """
    import yaml

    try:
        data = yaml.load(block, Loader=_loader())  # a SafeLoader subclass: no Python objects
    except (yaml.YAMLError, RecursionError):
        return _simple(block)
    if not isinstance(data, dict):
        return _simple(block)
    front: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key)
        check_values(value, path=path, line=None, field=name)
        front[name] = value if name in ("published", "date") else _jsonable(value, path, name)
    return front
