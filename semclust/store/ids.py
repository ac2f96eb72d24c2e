"""How a string argument is read where the API takes "an article id or a text"."""

from __future__ import annotations

__all__ = ["looks_like_id"]


def looks_like_id(value: str) -> bool:
    """Whether ``value`` is shaped like an article id rather than a text: non-empty, with no
    whitespace at all (``"no-such-id"``, ``"bbc:42"``). Where the API takes "an id or a text",
    such a string must be a stored article's id (an unknown one is a
    :class:`~semclust.errors.NotFoundError`, never silently scored as text); texts are passed
    with the explicit ``text=`` keyword, or contain a space.
    """
    return bool(value) and not any(c.isspace() for c in value)
