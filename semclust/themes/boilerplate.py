"""Boilerplate lines: what many articles repeat word for word is not what any one is about.

Signatures and sign-offs (a forum poster's quote under every message), bylines ("Bill Thompson
is a regular commentator on ..."), disclaimers, press-office headers and a feed's footer recur
verbatim, line for line, in article after article. c-TF-IDF reads them as the vocabulary of
whichever theme their author writes in, and names the theme after them: on 20 Newsgroups one
medical poster's signature ("Skepticism is the chastity of the intellect, and it is shameful to
surrender it too soon", 73 messages) named a theme "chastity intellect geb". Keywords are
therefore counted on the texts without such lines (:func:`drop_boilerplate`); the articles
themselves, their vectors and their themes are untouched.

A line is boilerplate when, compared with case and spacing ignored, it is found in at least
:data:`MIN_ARTICLES` different articles and has at least :data:`MIN_WORDS` words. Two articles
sharing a line may be two versions of one story; three sharing it word for word is a pattern.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["MIN_ARTICLES", "MIN_WORDS", "boilerplate_lines", "drop_boilerplate"]

#: A line found in this many different articles is boilerplate.
MIN_ARTICLES = 3
#: Lines of fewer words (of two letters or more) are never boilerplate: "Thanks", "Hi all".
MIN_WORDS = 3

_WORD = re.compile(r"[^\W\d_]{2,}")


def _key(line: str) -> str | None:
    """The line as compared (case and spacing ignored), or ``None`` for a line too short."""
    text = " ".join(line.split()).casefold()
    return text if len(_WORD.findall(text)) >= MIN_WORDS else None


def _common(keys: Sequence[Sequence[str | None]], min_articles: int) -> frozenset[str]:
    """The keys found in at least ``min_articles`` of the texts' key lists."""
    seen: Counter[str] = Counter()
    for text_keys in keys:
        seen.update({k for k in text_keys if k is not None})
    return frozenset(k for k, n in seen.items() if n >= min_articles)


def boilerplate_lines(texts: Sequence[str], min_articles: int = MIN_ARTICLES) -> frozenset[str]:
    """The lines (as compared: case-folded, spacing collapsed) found in at least
    ``min_articles`` of ``texts``.
    """
    return _common([[_key(line) for line in text.splitlines()] for text in texts], min_articles)


def drop_boilerplate(texts: Sequence[str], min_articles: int = MIN_ARTICLES) -> list[str]:
    """``texts`` without their boilerplate lines (:func:`boilerplate_lines`); a text that is
    only boilerplate is left whole, so every article keeps words to be counted on.
    """
    lines = [text.splitlines() for text in texts]
    keys = [[_key(line) for line in text_lines] for text_lines in lines]  # each line keyed once
    common = _common(keys, min_articles)
    if not common:
        return list(texts)
    out = []
    for text, text_lines, text_keys in zip(texts, lines, keys):
        kept = [line for line, k in zip(text_lines, text_keys) if k not in common]
        out.append("\n".join(kept) if len(kept) < len(text_lines) and any(s.strip() for s in kept) else text)
    return out
