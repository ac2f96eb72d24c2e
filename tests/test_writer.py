"""Writes: what a batch may hold, the write lock's timeout, and the chunking settings recorded
in the manifest (``title_context``, ``language``) deciding what is embedded."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fake_embedder import FakeEmbedder, FakeTokenizer

import semclust
from semclust.chunking import chunk_text
from semclust.errors import InputError, StoreLockedError
from semclust.ingest.limits import MAX_TEXT_CHARS


def test_duplicate_id_in_one_batch_is_reported(make_store) -> None:
    store = make_store()
    report = store.add(
        [
            {"id": "a", "text": "first version of the article"},
            {"id": "b", "text": "another article entirely"},
            {"id": "a", "text": "second version of the article"},
            {"id": "a", "text": "third and last version of the article"},
        ]
    )
    assert report.replaced_in_batch == ["a"]
    assert report.added == ["a", "b"] and store.get("a").text == "third and last version of the article"
    assert store.add([{"id": "c", "text": "alone"}]).replaced_in_batch == []


@pytest.mark.parametrize(
    "metadata",
    [{"score": float("nan")}, {"score": float("inf")}, {"score": [1.0, -float("inf")]}, {"score": {"x": float("nan")}}],
)
def test_nan_and_infinity_metadata_are_refused(make_store, metadata: dict) -> None:
    store = make_store()
    store.add([{"id": "ok", "text": "a fine article"}])
    with pytest.raises(InputError, match="score") as err:
        store.add([semclust.Document(id="bad", text="some text here", metadata=metadata)])
    assert err.value.field == "score"
    assert store.ids() == ["ok"]


def test_article_size_limit(make_store) -> None:
    store = make_store()
    with pytest.raises(InputError, match="split it into parts"):
        store.add([semclust.Document(id="huge", text="word " * (MAX_TEXT_CHARS // 5 + 1))])
    assert len(store) == 0


def test_lock_timeout_waits_then_raises(make_store) -> None:
    from filelock import FileLock

    patient = make_store("s", lock_timeout=5.0)
    hasty = semclust.Store.open(patient.path, model=FakeEmbedder(), cache=False, lock_timeout=0.4)
    holder = FileLock(str(patient.path / "write.lock"), thread_local=False)  # released by a timer
    holder.acquire()
    try:
        started = time.perf_counter()
        with pytest.raises(StoreLockedError, match="another process is writing"):
            hasty.add([{"id": "x", "text": "some text"}])
        assert 0.35 < time.perf_counter() - started < 3.0  # it waited for the lock, then gave up
        releaser = threading.Timer(0.5, holder.release)
        releaser.start()
        started = time.perf_counter()
        patient.add([{"id": "y", "text": "more text"}])  # waits for the release, then writes
        assert time.perf_counter() - started >= 0.45
        releaser.join()
    finally:
        if holder.is_locked:
            holder.release()
    assert patient.ids() == ["y"]


DOC = semclust.Document(
    id="zoo",
    title="Zebra crossing",
    text="Das ist z. B. ein Test mit Nr. 5 und usw. noch mehr. Hier kommt Dr. Müller am 3. Mai. Ende.",
)


@pytest.mark.parametrize("title_context", [True, False])
def test_title_context_decides_what_is_embedded(make_store, fake: FakeEmbedder, title_context: bool) -> None:
    store = make_store(title_context=title_context)
    store.add([DOC])
    assert store.manifest["chunking"]["title_context"] is title_context
    vectors, _, _ = store.embeddings()
    chunk = store.chunks("zoo")[0]
    expected_text = ("Zebra crossing\n" if title_context else "") + chunk.text
    assert chunk.embed_text == expected_text
    np.testing.assert_allclose(vectors[0], fake.embed([expected_text])[0], atol=1e-6)
    hit = store.search("zebra crossing", k=1)[0]
    assert (hit.score > 0.3) is title_context  # only the title holds these words


@pytest.mark.parametrize("language", ["en", "de"])
def test_language_decides_the_sentences(make_store, fake: FakeEmbedder, language: str) -> None:
    store = make_store(language=language, max_tokens=8, overlap=0, title_context=False)
    store.add([DOC])
    spans = [(c.start, c.end) for c in store.chunks("zoo")]
    assert spans == chunk_text(DOC.text, FakeTokenizer(), max_tokens=8, overlap=0, language=language)
    other = "de" if language == "en" else "en"
    assert spans != chunk_text(DOC.text, FakeTokenizer(), max_tokens=8, overlap=0, language=other)
    vectors, _, _ = store.embeddings()
    np.testing.assert_allclose(vectors, fake.embed([DOC.text[s:e] for s, e in spans]), atol=1e-6)
