"""Dropping page furniture: lines that belong to the web page, not to the article.

Scraped articles carry lines such as ``Loading...``, ``See Also: <another story>``,
``Read Next: ...``, ``Image Via Shutterstock``, ``You might also like`` or ``Comments are closed.``.
They add noise to embeddings and to theme keywords, so :func:`semclust.read` drops every line that
matches one of :data:`FURNITURE_PATTERNS` (a whole-line, case-insensitive regular expression
match). Switch it off with ``read(..., clean=False)``, or pass your own list with
``read(..., furniture=[...])`` (for example ``[*FURNITURE_PATTERNS, r"Subscribe now.*"]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = ["FURNITURE_PATTERNS", "clean_text"]

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
