"""Cleaning article text: decoding escaped markup, and dropping page furniture.

**Escaped markup.** RSS and wire feeds ship text with HTML entities and escaped tags in it
(``&lt;b&gt;Wall St.&lt;/b&gt;``, ``AT&amp;T``, ``Street#39;s``, ``&quot;``). With ``clean=True``
(the default) :func:`decode_markup` decodes the entities (also double-escaped ones and the bare
``#39;`` form feeds leave when they lose the ``&``) and removes HTML tags of known names (block
tags such as ``<p>``/``<br>`` become line breaks), in text and titles, before anything is stored:
chunk offsets index the stored, decoded text.

**Page furniture** is lines that belong to the web page, not to the article.

Scraped articles carry lines such as ``Loading...``, ``See Also: <another story>``,
``Read Next: ...``, ``Image Via Shutterstock``, ``You might also like`` or ``Comments are closed.``.
They add noise to embeddings and to theme keywords, so :func:`semclust.read` drops every line that
matches one of :data:`FURNITURE_PATTERNS` (a whole-line, case-insensitive regular expression
match). Switch it off with ``read(..., clean=False)``, or pass your own list with
``read(..., furniture=[...])`` (for example ``[*FURNITURE_PATTERNS, r"Subscribe now.*"]``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = ["FURNITURE_PATTERNS", "clean_text", "decode_markup"]

#: Whole-line patterns (case-insensitive) for page furniture dropped by default.
FURNITURE_PATTERNS: tuple[str, ...] = (
    r"(loading\s*(\.\.\.|…)\s*)+",  # "Loading... Loading..."
    r"(see also|read next|read more|also read|related|recommended)\s*:.*",  # links to other stories
    r"(you (might|may) also like|more from .{1,40}|related (articles|stories))\s*:?",
    r"comments are (closed|disabled)\.?",
    r"(image|images|photo|photos|picture)\s*(via|by|credit|credits|source|courtesy of)\s*:?.{0,80}",
    r"(photo|image)s?\s*:\s*.{0,80}",  # "Photo: Reuters"
    r".{0,100}\|\s*(news from )?getty images",  # "John Simon | Stringers | News from Getty Images"
    r"(advertisement|sponsored content|share this article|share on \w+)",
    r"engineered by benzinga neuro.*",  # Benzinga's generated-content notice
)


@lru_cache(maxsize=32)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def clean_text(text: str, patterns: Iterable[str] | None = None) -> str:
    """Drop furniture lines from ``text`` and tidy white space.

    Args:
        text: The article text, lines separated by newlines.
        patterns: Whole-line regular expressions to drop; default :data:`FURNITURE_PATTERNS`.
            An empty sequence keeps every line (only white space is tidied).

    Returns:
        The text with matching lines removed, trailing spaces stripped, runs of blank lines
        folded into one, and no leading or trailing blank lines.
    """
    pats: Sequence[str] = FURNITURE_PATTERNS if patterns is None else tuple(patterns)
    rx = _compile(tuple(pats))
    out: list[str] = []
    blank = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        stripped = line.strip()
        if rx is not None and stripped and rx.fullmatch(stripped):
            continue
        if not stripped:
            blank = bool(out)
            continue
        if blank:
            out.append("")
            blank = False
        out.append(line)
    return "\n".join(out)


# HTML tags removed from text fields: known names, attributes only as name=value (any other
# "<word ...>", such as "a<b and c>d", is left alone: it may be prose).
_INLINE_TAGS = (
    "a abbr acronym b big cite code del dfn em font i img ins kbd mark q s samp small span strike "
    "strong sub sup tt u var wbr"
)
_BLOCK_TAGS = (
    "address article aside blockquote br caption center dd div dl dt figcaption figure footer h1 h2 "
    "h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul"
)
_TAG = re.compile(
    r"<(/?)("
    + "|".join(sorted((_INLINE_TAGS + " " + _BLOCK_TAGS).split(), key=len, reverse=True))
    + r")(?:\s+[\w:.-]+\s*=\s*(?:\"[^\"<>]{0,1000}\"|'[^'<>]{0,1000}'|[^\s\"'<>=]{1,1000}))*\s*/?>",
    re.IGNORECASE,
)
_BLOCK = frozenset(_BLOCK_TAGS.split())
_DROPPED = re.compile(r"<!--.*?-->|<(script|style)\b[^<>]{0,1000}>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Entities with their semicolon only: "AT&T", "R&D" or "&copy" alone stay as they are.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# "#39;" and friends: an entity whose "&" a feed dropped ("Wall Street#39;s").
_BARE_ENTITY = re.compile(r"(?<![&#\w])#(?:[0-9]{2,4});|(?<=\w)#(?:[0-9]{2,4});")


def _entity(match: re.Match[str]) -> str:
    return html.unescape(match.group(0))


def _bare_entity(match: re.Match[str]) -> str:
    char = html.unescape("&" + match.group(0))
    # Only punctuation and letters beyond ASCII: "#12;" in "issue #12; see" stays as it is.
    if len(char) == 1 and not char.isspace() and not (char.isascii() and char.isalnum()) and ord(char) >= 33:
        return char
    return match.group(0)


def _tag(match: re.Match[str]) -> str:
    return "\n" if match.group(2).lower() in _BLOCK else ""


def decode_markup(text: str) -> str:
    """Decode HTML entities and remove escaped (or plain) HTML tags from a text field.

    ``&lt;b&gt;Wall St.&lt;/b&gt; AT&amp;amp;T, Street#39;s`` becomes ``Wall St. AT&T, Street's``:
    entities are decoded (up to three times, for double-escaped feeds; only entities that end in
    ``;``), bare numeric entities whose ``&`` was lost (``#39;``) too, then comments,
    ``<script>``/``<style>`` elements and tags of known HTML names are removed (block tags
    become a line break). Non-breaking spaces become plain spaces. Text without ``&``, ``#`` or
    ``<`` is returned unchanged.
    """
    if "&" not in text and "#" not in text and "<" not in text:
        return text
    for _ in range(3):
        decoded = _ENTITY.sub(_entity, text)
        if decoded == text:
            break
        text = decoded
    text = _BARE_ENTITY.sub(_bare_entity, text)
    if "<" in text:
        text = _DROPPED.sub("", text)
        text = _TAG.sub(_tag, text)
    return text.replace("\xa0", " ")
