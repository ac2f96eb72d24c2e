"""Single-article files: ``.txt`` (first line as title), ``.md`` (front matter, ``#`` heading)
and ``.html`` (text, title, date and site extracted with trafilatura).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from semclust._types import Document, normalize_published
from semclust.errors import EmptyInputError, RecordError
from semclust.ingest.decoding import decode_text, read_bytes
from semclust.ingest.fields import STANDARD_FIELDS, ReadOptions, check_document
from semclust.ingest.frontmatter import parse_front_matter

__all__ = ["TEXT_SUFFIXES", "file_stem", "read_text_file"]

#: File suffixes read as one article each.
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")


def read_text_file(path: Path, root: Path | None, opts: ReadOptions) -> Document:
    """Read one ``.txt``, ``.md`` or ``.html`` file as one article.

    ``root`` is the folder being read (``None`` for a file given directly); the default id is
    the path relative to it, without suffix, and the ``path`` metadata field the path relative
    to it, with suffix (for a file given directly: its name).
    """
    raw = read_bytes(path)
    rel = path.relative_to(root) if root is not None else Path(path.name)
    doc_id = rel.with_suffix("").as_posix()
    suffix = path.suffix.lower()
    meta: dict[str, Any] = {"path": rel.as_posix()}
    if suffix in (".html", ".htm"):
        return check_document(_from_html(decode_text(raw, path), path, doc_id, meta, opts), path=path)
    text = decode_text(raw, path)
    title = ""
    front: dict[str, Any] = {}
    if suffix in (".md", ".markdown"):
        front, text = _split_front_matter(text, path)
        meta.update({k: v for k, v in front.items() if k not in (*STANDARD_FIELDS, "date")})
        title = opts.title(_front_str(front, "title", path) or "")
        heading = re.match(r"\s*#\s+(.+)\n", text)
        if heading and not title:
            title = opts.title(heading.group(1))
            text = text[heading.end() :]
        text = opts.text(text)
    else:
        text = opts.text(text)
        first, _, rest = text.partition("\n")
        if rest.strip() and _looks_like_title(first):
            title, text = opts.title(first), rest.strip()
    if not text.strip():
        raise EmptyInputError("the file has no article text (after dropping page furniture)", path=path)
    try:
        published = normalize_published(front.get("published") or front.get("date"))
    except ValueError as err:
        raise RecordError(str(err), path=path, field="published") from None
    front_id = _front_str(front, "id", path)
    doc = Document(
        id=front_id if front_id is not None else doc_id,
        title=title or _title_from_name(path),
        text=text,
        url=_front_str(front, "url", path) or None,
        published=published,
        source=_front_str(front, "source", path) or None,
        metadata=meta,
    )
    return check_document(doc, path=path)


def _from_html(html: str, path: Path, doc_id: str, meta: dict[str, Any], opts: ReadOptions) -> Document:
    import trafilatura

    extracted = trafilatura.extract(
        html, output_format="json", with_metadata=True, include_comments=False, favor_recall=True
    )
    data: dict[str, Any] = json.loads(extracted) if extracted else {}
    text = opts.text(str(data.get("text") or ""))
    if not text:
        raise EmptyInputError("no article text could be extracted from this HTML", path=path)
    published = None
    if data.get("date"):
        try:
            published = normalize_published(str(data["date"]))
        except ValueError:
            published = None
    return Document(
        id=doc_id,
        title=opts.title(str(data.get("title") or "")) or _title_from_name(path),
        text=text,
        url=data.get("source") or data.get("url") or None,
        published=published,
        source=data.get("sitename") or data.get("hostname") or None,
        metadata=meta,
    )


def file_stem(path: Path) -> str:
    """The file name without ``.gz`` and its last suffix: ``news.jsonl.gz`` -> ``news``."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[: -len(".gz")]
    return name.rsplit(".", 1)[0]


def _title_from_name(path: Path) -> str:
    words = re.sub(r"[-_]+", " ", file_stem(path)).strip()
    return words[:1].upper() + words[1:]


def _looks_like_title(line: str) -> bool:
    s = line.strip()
    return 0 < len(s) <= 200 and not s.endswith((".", ":", ";", ",")) and "\t" not in s


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    """Split ``---``-delimited front matter from Markdown and parse it as YAML (see
    :func:`~semclust.ingest.frontmatter.parse_front_matter`).
    """
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    return parse_front_matter(m.group(1), path), text[m.end() :]


def _front_str(front: Mapping[str, Any], key: str, path: Path) -> str | None:
    """A standard field from front matter as a string (``None`` when absent or empty)."""
    value = front.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RecordError(f"expected a string, got {type(value).__name__}", path=path, field=key)
    return str(value)
