"""Chunking: sentences packed into chunks that fit the embedding model's token budget.

Sentences come from ``sentencex`` (a real, multilingual sentence segmenter), one line of the text
at a time so that headings and paragraphs never merge. Tokens are counted with the model's own
tokenizer. A chunk holds as many whole sentences as fit the budget; consecutive chunks share
``overlap`` sentences; a single sentence longer than the budget is split at word boundaries
(token boundaries for one giant word). Each chunk keeps its character offsets into the article
text and the article's title, which is prepended to the text that is embedded (and counted
against the budget) when ``title_context`` is on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from semclust._types import Document
from semclust.errors import InvalidArgumentError

__all__ = [
    "Chunk",
    "ChunksFn",
    "TokenCounter",
    "chunk_document",
    "chunk_spans",
    "chunk_text",
    "chunks_from_spans",
    "split_sentences",
]


class TokenCounter(Protocol):
    """What chunking needs from a tokenizer (embedders provide it as ``.tokenizer``)."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text, special tokens excluded."""
        ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each token of ``text``, special tokens excluded."""
        ...


@dataclass(frozen=True)
class Chunk:
    """A passage of an article.

    Attributes:
        doc_id: The article's id.
        index: Position of the chunk in its article (0-based).
        text: The passage, ``article.text[start:end]``.
        start: Character offset of the passage in the article text.
        end: Character offset one past the passage's end.
        title: The article's title, kept as context.
        title_context: Whether the title is prepended to the embedded text.
    """

    doc_id: str
    index: int
    text: str
    start: int
    end: int
    title: str = ""
    title_context: bool = True

    @property
    def embed_text(self) -> str:
        """The text given to the embedding model: title (as context) and passage."""
        if self.title_context and self.title:
            return f"{self.title}\n{self.text}"
        return self.text


def split_sentences(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Return ``(start, end)`` character spans of the sentences of ``text``.

    Lines are segmented separately (a line break always ends a sentence); spans exclude
    surrounding white space and cover every non-space character of ``text`` in order.
    """
    from sentencex import get_sentence_boundaries

    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            cursor = 0
            for b in get_sentence_boundaries(language, line):
                s, e = int(b["start_index"]), int(b["end_index"])
                if line[s:e] != b["text"]:  # defensive: realign if indices were not characters
                    s = line.find(b["text"], cursor)
                    e = s + len(b["text"]) if s >= 0 else -1
                    if s < 0:
                        continue
                cursor = e
                seg = line[s:e]
                lstrip = len(seg) - len(seg.lstrip())
                rstrip = len(seg) - len(seg.rstrip())
                if e - rstrip > s + lstrip:
                    spans.append((pos + s + lstrip, pos + e - rstrip))
            # Anything the segmenter left out (it should not) becomes its own sentence.
            if spans and cursor < len(line.rstrip()) and line[cursor:].strip():
                rest = line[cursor:]
                off = len(rest) - len(rest.lstrip())
                spans.append((pos + cursor + off, pos + len(line.rstrip())))
        pos += len(line) + 1
    return _merge_missing(text, spans)


def _merge_missing(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Make sure spans are ordered, disjoint, and miss no non-space text between them."""
    spans.sort()
    out: list[tuple[int, int]] = []
    cursor = 0
    for s, e in spans:
        s = max(s, cursor)
        if e <= s:
            continue
        gap = text[cursor:s]
        if gap.strip():
            g0 = cursor + len(gap) - len(gap.lstrip())
            g1 = s - (len(gap) - len(gap.rstrip()))
            out.append((g0, g1))
        out.append((s, e))
        cursor = e
    tail = text[cursor:]
    if tail.strip():
        out.append((cursor + len(tail) - len(tail.lstrip()), len(text.rstrip())))
    return out


def _split_long(
    text: str, span: tuple[int, int], budget: int, tokenizer: TokenCounter
) -> list[tuple[int, int]]:
    """Split a span longer than ``budget`` tokens into pieces of at most ``budget`` tokens,
    cutting at word starts where possible.
    """
    s0, e0 = span
    offsets = [(s0 + a, s0 + b) for a, b in tokenizer.token_offsets(text[s0:e0])]
    pieces: list[tuple[int, int]] = []
    i = 0
    n = len(offsets)
    while i < n:
        j = min(i + budget, n)
        if j < n:
            # back off to a token that starts a new word (a gap before it)
            k = j
            while k > i + 1 and offsets[k][0] == offsets[k - 1][1]:
                k -= 1
            if k > i + 1:
                j = k
        while True:
            start, end = offsets[i][0], offsets[j - 1][1]
            if j - i <= 1 or tokenizer.count_tokens([text[start:end]])[0] <= budget:
                break
            j -= 1
        pieces.append((start, end))
        i = j
    return pieces


def chunk_text(
    text: str,
    tokenizer: TokenCounter,
    *,
    max_tokens: int,
    overlap: int = 1,
    language: str = "en",
) -> list[tuple[int, int]]:
    """Split ``text`` into chunk spans of at most ``max_tokens`` tokens.

    Args:
        text: The text to chunk.
        tokenizer: Counts tokens the way the embedding model does.
        max_tokens: Token budget of one chunk (special tokens excluded).
        overlap: Sentences shared by consecutive chunks (0 for none).
        language: Language code for the sentence segmenter.

    Returns:
        ``(start, end)`` character spans, in order; together they cover all non-space text.
    """
    if max_tokens < 1:
        raise InvalidArgumentError(f"max_tokens must be at least 1, got {max_tokens}")
    if overlap < 0:
        raise InvalidArgumentError(f"overlap must be 0 or more sentences, got {overlap}")
    sents = split_sentences(text, language)
    if not sents:
        return []
    counts = tokenizer.count_tokens([text[s:e] for s, e in sents])
    units: list[tuple[int, int]] = []
    unit_counts: list[int] = []
    for span, cnt in zip(sents, counts):
        if cnt > max_tokens:
            pieces = _split_long(text, span, max_tokens, tokenizer)
            units.extend(pieces)
            unit_counts.extend(tokenizer.count_tokens([text[s:e] for s, e in pieces]))
        else:
            units.append(span)
            unit_counts.append(cnt)

    chunks: list[tuple[int, int]] = []
    i, n = 0, len(units)
    while i < n:
        j, total = i, 0
        while j < n and (j == i or total + unit_counts[j] <= max_tokens):
            total += unit_counts[j]
            j += 1
        # The joined text can tokenise differently from its parts: check and shrink.
        while j - i > 1 and tokenizer.count_tokens([text[units[i][0] : units[j - 1][1]]])[0] > max_tokens:
            j -= 1
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= n:
            break
        i = max(j - overlap, i + 1)
    return chunks


def chunk_document(
    doc: Document,
    tokenizer: TokenCounter,
    *,
    max_tokens: int,
    overlap: int = 1,
    title_context: bool = True,
    language: str = "en",
) -> list[Chunk]:
    """Chunk one article; see :func:`chunk_text`.

    With ``title_context`` the title (truncated to a quarter of the budget) is prepended to each
    chunk's embedded text, and its tokens are taken from the chunk's budget.
    """
    title = doc.title.strip()
    budget = max_tokens
    if title_context and title:
        offsets = tokenizer.token_offsets(title)
        cap = max(1, max_tokens // 4)
        if len(offsets) > cap:
            title = title[: offsets[cap - 1][1]]
        budget = max(1, max_tokens - tokenizer.count_tokens([title + "\n"])[0])
    spans = chunk_text(doc.text, tokenizer, max_tokens=budget, overlap=overlap, language=language)
    return [
        Chunk(doc.id, i, doc.text[s:e], s, e, title, title_context and bool(title))
        for i, (s, e) in enumerate(spans)
    ]


#: Gives an article's chunks when they were made elsewhere (a distributed build's workers), or
#: ``None`` to chunk it here; what it gives must be what :func:`chunk_document` would give with
#: the store's settings.
ChunksFn = Callable[[Document], "list[Chunk] | None"]


def chunk_spans(chunks: Sequence[Chunk]) -> dict[str, Any]:
    """An article's chunks as plain JSON (their offsets and the title they carry): what
    :func:`chunks_from_spans` turns back into the same chunks.
    """
    first = chunks[0] if chunks else None
    return {
        "title": first.title if first else "",
        "title_context": first.title_context if first else False,
        "spans": [[c.start, c.end] for c in chunks],
    }


def chunks_from_spans(doc: Document, data: Mapping[str, Any]) -> list[Chunk]:
    """The chunks that :func:`chunk_spans` wrote for ``doc``.

    Raises:
        InvalidArgumentError: When a span does not lie inside the article's text.
    """
    title, context = str(data["title"]), bool(data["title_context"])
    out: list[Chunk] = []
    for i, (s, e) in enumerate(data["spans"]):
        if not 0 <= s <= e <= len(doc.text):
            raise InvalidArgumentError(
                f"chunk {i} of article {doc.id!r} spans [{s}, {e}), outside its text of "
                f"{len(doc.text)} characters"
            )
        out.append(Chunk(doc.id, i, doc.text[s:e], s, e, title, context))
    return out
