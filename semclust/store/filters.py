"""Metadata filters: ``field=value`` conditions turned into one SQL condition on ``docs``.

A scalar means equality, a list/tuple/set "one of", ``None`` "missing", and a dict of
comparisons (``eq ne gt gte lt lte in``) all of them. ``since``/``until`` bound ``published``.

Comparisons with a **number** compare numbers: the stored value is read as a number whether it
was stored as one (JSONL) or as a numeric string (front matter, CSV), through the SQL function
:data:`NUMBER_SQL_FUNCTION` that :class:`~semclust.store.catalog.Catalog` registers on each of its
connections (see :func:`as_number`). A stored value that is not a number never matches a numeric
``eq gt gte lt lte in`` (and always matches ``ne``). Comparisons with a string compare strings.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from typing import Any

from semclust._types import normalize_published
from semclust.errors import InvalidArgumentError

__all__ = ["NUMBER_SQL_FUNCTION", "as_number", "build_filter", "filter_condition"]

#: The SQL function (registered by the catalog) that reads a stored value as a number.
NUMBER_SQL_FUNCTION = "semclust_number"

#: Fields that are columns of ``docs``; any other field is looked up in the metadata JSON.
_COLUMNS = frozenset({"doc_id", "title", "url", "published", "source"})
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_OPS = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

#: A SQL condition and its parameters.
Condition = tuple[str, list[Any]]


def as_number(value: object) -> float | None:
    """``value`` as a number: ints and floats as they are, a string holding a plain decimal
    number (``"300"``, ``" 2.5 "``, ``"1e3"``) parsed, anything else ``None``. Registered in
    SQLite as :data:`NUMBER_SQL_FUNCTION`.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        return float(value.strip())
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field_expr(name: str, params: list[Any]) -> str:
    if not isinstance(name, str) or not _FIELD_RE.match(name):
        raise InvalidArgumentError(
            f"filter field {name!r} is not a valid field name (letters, digits, '_', '.', '-')"
        )
    if name in _COLUMNS:
        return name
    params.append(f'$."{name}"')
    return "json_extract(metadata, ?)"


def _scalar(name: str, value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(f"filter {name!r}: {value!r} is not a number to compare with")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidArgumentError(
        f"filter {name!r}: expected a string or number, a list of them, or a dict of "
        f"comparisons like {{'gte': 1}}, got {type(value).__name__}"
    )


def _compare(name: str, op: str, value: Any, params: list[Any]) -> str:
    """One comparison ``field op value``; numeric when ``value`` is a number."""
    value = _scalar(name, value)
    if not _is_number(value):
        expr = _field_expr(name, params)
        params.append(value)
        return f"{expr} {op} ?"
    if op == "!=":  # a missing field matches no comparison; a stored non-number differs
        present = _field_expr(name, params)
        typed = f"{NUMBER_SQL_FUNCTION}({_field_expr(name, params)})"
        params.append(value)
        return f"({present} IS NOT NULL AND {typed} IS NOT ?)"
    typed = f"{NUMBER_SQL_FUNCTION}({_field_expr(name, params)})"
    params.append(value)
    return f"{typed} {op} ?"


def _one_of(name: str, values: Any, params: list[Any]) -> str:
    """``field IN (values)``: numbers compared as numbers, the rest as they are."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError(f"filter {name!r}: 'in' takes a list of values, got {values!r}")
    vals = [_scalar(name, v) for v in values]
    nums = [v for v in vals if _is_number(v)]
    rest = [v for v in vals if not _is_number(v)]
    parts = []
    if nums:
        parts.append(f"{NUMBER_SQL_FUNCTION}({_field_expr(name, params)}) IN ({','.join('?' * len(nums))})")
        params.extend(nums)
    if rest:
        parts.append(f"{_field_expr(name, params)} IN ({','.join('?' * len(rest))})")
        params.extend(rest)
    return "(" + " OR ".join(parts) + ")" if parts else "0"


def _date_bound(name: str, value: str | _dt.date) -> str:
    try:
        out = normalize_published(value)
    except ValueError as err:
        raise InvalidArgumentError(f"{name}: {err}") from None
    if out is None:
        raise InvalidArgumentError(f"{name}: expected an ISO date such as '2024-02-17'")
    return out


def _field_clauses(name: str, cond: Any, params: list[Any]) -> list[str]:
    if isinstance(cond, Mapping):
        clauses = []
        for op, val in cond.items():
            if op == "in":
                clauses.append(_one_of(name, val, params))
            elif op in _OPS:
                clauses.append(_compare(name, _OPS[op], val, params))
            else:
                raise InvalidArgumentError(
                    f"filter {name!r}: unknown comparison {op!r}; use one of " + ", ".join([*_OPS, "in"])
                )
        return clauses
    if isinstance(cond, (list, tuple, set, frozenset)):
        return [_one_of(name, cond, params)]
    if cond is None:
        return [f"{_field_expr(name, params)} IS NULL"]
    return [_compare(name, "=", cond, params)]


def build_filter(
    filters: Mapping[str, Any] | None,
    *,
    since: str | _dt.date | None = None,
    until: str | _dt.date | None = None,
) -> Condition:
    """Turn metadata filters into a SQL condition on ``docs`` and its parameters.

    Each filter is ``field=value``: a scalar means equality, a list/tuple/set means "one of",
    ``None`` means "missing", and a dict of comparisons (``eq ne gt gte lt lte in``) means all of
    them, e.g. ``{"published": {"gte": "2024-01-01"}}``. ``field`` is ``title``, ``url``,
    ``source``, ``published``, ``doc_id`` or any metadata field. A number compares numbers, so
    ``{"words": {"gte": 300}}`` matches ``300`` and ``"300"`` alike. ``since``/``until`` bound
    ``published`` (both inclusive; a date ``until`` includes that whole day).
    """
    clauses: list[str] = []
    params: list[Any] = []
    for name, cond in (filters or {}).items():
        clauses.extend(_field_clauses(name, cond, params))
    if since is not None:
        clauses.append("published >= ?")
        params.append(_date_bound("since", since))
    if until is not None:
        bound = _date_bound("until", until)
        if len(bound) == 10:
            clauses.append("published < ?")
            params.append((_dt.date.fromisoformat(bound) + _dt.timedelta(days=1)).isoformat())
        else:
            clauses.append("published <= ?")
            params.append(bound)
    return (" AND ".join(clauses) or "1"), params


def filter_condition(
    filters: Mapping[str, Any] | None,
    field_filters: Mapping[str, Any],
    since: str | _dt.date | None,
    until: str | _dt.date | None,
) -> Condition | None:
    """The SQL condition of ``filters`` and keyword ``field_filters`` together (``None`` for
    no filter); bad filters fail here, before any embedding or search work.
    """
    merged = {**(filters or {}), **field_filters}
    if not merged and since is None and until is None:
        return None
    return build_filter(merged, since=since, until=until)
