import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fake_embedder import FakeEmbedder

import semclust
from semclust.errors import (
    EmbeddingMismatchError,
    EmptyInputError,
    EmptyStoreError,
    InputError,
    InvalidArgumentError,
    NotFoundError,
    StoreFormatError,
    StoreLockedError,
)
from semclust.store.catalog import Catalog

TOPICS = {
    "sport": "football match goal striker league cup referee stadium coach season",
    "economy": "inflation bank interest rates market shares economy growth prices trade",
    "tech": "software computer internet phone chip startup data network users apps",
}


def corpus(n_per_topic: int = 5, source_of=None) -> list[dict]:
    docs = []
    for topic, vocab in TOPICS.items():
        words = vocab.split()
        for i in range(n_per_topic):
            sents = [" ".join(words[(i + j) % len(words)] for j in range(k, k + 6)) + "." for k in range(8)]
            docs.append(
                {
                    "id": f"{topic}-{i}",
                    "title": f"{topic} story {i}",
                    "text": " ".join(sents),
                    "source": source_of(topic, i) if source_of else topic.upper(),
                    "published": f"2024-01-{i + 1:02d}",
                    "topic": topic,
                }
            )
    return docs


def test_add_search_related(make_store) -> None:
    store = make_store()
    report = store.add(corpus())
    assert len(report.added) == 15 and report.chunks > 15  # articles span several chunks
    assert len(store) == 15
    hits = store.search("football striker goal", k=3)
    assert len(hits) == 3 and all(h.doc_id.startswith("sport") for h in hits)
    assert hits[0].score >= hits[1].score >= hits[2].score
    h = hits[0]
    assert store.get(h.doc_id).text[h.start : h.end] == h.passage
    rel = store.related("economy-0", k=4)
    assert "economy-0" not in rel.ids and all(i.startswith("economy") for i in rel.ids)
    frame = hits.to_frame()
    assert list(frame.columns[:4]) == ["doc_id", "title", "score", "passage"] and len(frame) == 3
    assert "sport story" in hits._repr_html_()
    assert store.similarity("sport-0", "sport-1") > store.similarity("sport-0", "tech-1")
    assert store.similarity("football goal", "football goal") == pytest.approx(1.0, abs=1e-5)


def test_search_returns_k_distinct_articles(make_store) -> None:
    store = make_store()
    long = {"id": "long", "title": "", "text": " ".join(["football goal striker league."] * 200)}
    store.add([long, *corpus()])
    hits = store.search("football goal striker", k=6)
    assert len(hits) == 6 and len(set(hits.ids)) == 6 and hits.ids[0] == "long"


def test_upsert_unchanged_updated_and_duplicates(make_store, fake: FakeEmbedder) -> None:
    store = make_store()
    store.add(corpus(2))
    n_chunks = store.info()["chunks"]
    again = store.add(corpus(2))
    assert len(again.unchanged) == 6 and again.chunks == 0 and len(store) == 6
    assert store.info()["chunks"] == n_chunks
    docs = corpus(2)
    docs[0]["text"] = "Completely new text about chips and software."
    docs[1]["source"] = "OTHER"
    rep = store.add(docs)
    assert rep.updated == ["sport-0", "sport-1"] and len(rep.unchanged) == 4
    assert store.get("sport-1").source == "OTHER"
    dup = {"id": "copy", "title": "x", "text": docs[2]["text"]}
    rep = store.add([dup])
    assert rep.duplicates == {"copy": "economy-0"} and store.duplicate_of("copy") == "economy-0"
    assert "copy" not in store.search("inflation bank", k=10).ids
    assert "copy" not in store.related("economy-0", k=10).ids
    assert "economy-0" not in store.related("copy", k=10).ids
    assert len(store.chunks("copy")) == len(store.chunks("economy-0"))


def test_delete_and_promotion(make_store) -> None:
    store = make_store()
    store.add(corpus(2))
    store.add([{"id": "copy", "text": corpus(2)[2]["text"]}])
    with pytest.raises(NotFoundError):
        store.delete(["economy-0", "nope"])
    assert "economy-0" in store
    rep = store.delete("economy-0")
    assert rep.deleted == ["economy-0"] and "economy-0" not in store
    assert store.duplicate_of("copy") is None  # promoted
    assert "copy" in store.search("inflation bank interest", k=3).ids
    store.delete(store.ids())
    assert len(store) == 0
    with pytest.raises(EmptyStoreError):
        store.search("x")


def test_filters_restrict_before_ranking(make_store) -> None:
    store = make_store()
    store.add(corpus(6, source_of=lambda topic, i: "A" if i % 3 == 0 else "B"))
    hits = store.search("football striker", k=5, source="A")
    assert len(hits) == 5 and all(store.get(i).source == "A" for i in hits.ids)
    assert len(store.search("football", k=50, source="A")) == 6
    hits = store.search("football", k=30, since="2024-01-03", until="2024-01-04")
    assert {store.get(i).published for i in hits.ids} == {"2024-01-03", "2024-01-04"} and len(hits) == 6
    assert set(store.search("x", k=20, topic="tech").ids) == {f"tech-{i}" for i in range(6)}
    assert (
        len(store.search("x", k=20, filters={"topic": ["tech", "sport"], "published": {"lt": "2024-01-03"}}))
        == 4
    )
    rel = store.related("sport-0", k=3, source="B")
    assert len(rel) == 3 and all(store.get(i).source == "B" for i in rel.ids)
    with pytest.raises(InvalidArgumentError, match="field"):
        store.search("x", filters={"bad name;": 1})
    with pytest.raises(InvalidArgumentError, match="since"):
        store.search("x", since="yesterday")


def test_bad_input_leaves_store_as_it_was(make_store) -> None:
    store = make_store()
    with pytest.raises(EmptyInputError):
        store.add([])
    with pytest.raises(EmptyStoreError):
        store.search("anything")
    store.add(corpus(1))
    gen = store.generation
    for k in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgumentError):
            store.search("x", k=k)
    with pytest.raises(InvalidArgumentError):
        store.search("  ")
    with pytest.raises(NotFoundError):
        store.related("nope")
    with pytest.raises(InputError):
        store.add([{"id": "a", "text": "fine"}, {"id": "b", "title": "no text"}])
    with pytest.raises(InputError, match="metadata"):
        store.add([semclust.Document(id="m", text="t", metadata={"x": object()})])
    assert store.generation == gen and len(store) == 3


def test_failing_embedder_commits_nothing(make_store, fake: FakeEmbedder, monkeypatch) -> None:
    store = make_store()
    store.add(corpus(1))
    gen, ids = store.generation, store.ids()

    def boom(*a, **k):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(fake, "embed", boom)
    with pytest.raises(RuntimeError):
        store.add([{"id": "new", "text": "brand new words here"}])
    assert store.generation == gen and store.ids() == ids


def test_crash_between_snapshot_and_commit(make_store, monkeypatch) -> None:
    store = make_store()
    store.add(corpus(1))
    gen = store.generation
    real = Catalog.set_state

    def crash(self, key, value):
        if key == "generation":
            raise KeyboardInterrupt("simulated crash")
        return real(self, key, value)

    monkeypatch.setattr(Catalog, "set_state", crash)
    with pytest.raises(KeyboardInterrupt):
        store.add([{"id": "new", "text": "brand new words here"}])
    monkeypatch.undo()
    reopened = semclust.Store.open(store.path, model=FakeEmbedder(), cache=False)
    assert reopened.generation == gen and "new" not in reopened
    reopened.add([{"id": "new", "text": "brand new words here"}])  # leftovers are cleared
    assert "new" in reopened and reopened.search("brand new words", k=1).ids == ["new"]
    assert [p.name for p in (store.path / "snapshots").iterdir()] == [f"{reopened.generation:010d}"]


def test_one_writer_at_a_time(make_store) -> None:
    from filelock import FileLock

    store = make_store()
    store.add(corpus(1))
    holder = FileLock(str(store.path / "write.lock"))
    holder.acquire()
    try:
        with pytest.raises(StoreLockedError, match="another process is writing"):
            store.add([{"id": "x", "text": "some text"}])
        assert len(store.search("football", k=2)) == 2  # readers are not blocked
    finally:
        holder.release()
    store.add([{"id": "x", "text": "some text"}])


def test_manifest_checks(make_store, tmp_path: Path) -> None:
    store = make_store("m")
    store.add(corpus(1))
    with pytest.raises(EmbeddingMismatchError, match="re-embed"):
        semclust.Store.open(store.path, model=FakeEmbedder("other"), cache=False)
    again = semclust.Store.open(store.path, cache=False)  # model from the manifest
    assert again.embedder.backend == "fake" and len(again.search("football", k=1)) == 1
    manifest = json.loads((store.path / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["index"]["factory"] == "auto"
    assert manifest["related"] == {"k": 20, "method": "chunks"}
    assert manifest["model"]["dimension"] == 64 and "faiss-cpu" in manifest["versions"]
    manifest["format_version"] = 99
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreFormatError, match="format version 99"):
        semclust.Store.open(store.path, cache=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    with pytest.raises(semclust.StoreError, match="not empty"):
        semclust.Store.open(tmp_path / "junk", model=FakeEmbedder(), cache=False)
    with pytest.raises(semclust.StoreError, match="no semclust store"):
        semclust.Store.open(tmp_path / "absent", create=False)


def test_other_index_kinds(make_store) -> None:
    store = make_store(index="HNSW16")
    store.add(corpus(3))
    assert store.info()["index"]["factory"] == "HNSW16"
    assert all(i.startswith("tech") for i in store.search("software chip", k=3).ids)
    assert len(store.search("software chip", k=3, source="TECH")) == 3
    with pytest.raises(semclust.StoreError, match="invalid FAISS index"):
        s2 = make_store("bad", index="NoSuchIndex")
        s2.add(corpus(1))


def test_embedding_cache_skips_unchanged_text(tmp_path: Path) -> None:
    from semclust.embeddings.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    fake = FakeEmbedder()
    s1 = semclust.Store.open(tmp_path / "one", model=fake, cache=cache)
    first = s1.add(corpus(2))
    assert first.embedded == first.chunks > 0
    s2 = semclust.Store.open(tmp_path / "two", model=fake, cache=cache)
    second = s2.add(corpus(2))
    assert second.embedded == 0 and second.chunks == first.chunks
    a, _, _ = s1.embeddings()
    b, _, _ = s2.embeddings()
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_embeddings_matrix(make_store) -> None:
    store = make_store()
    store.add(corpus(1))
    vecs, chunk_ids, doc_ids = store.embeddings()
    assert vecs.shape == (len(chunk_ids), 64) and len(doc_ids) == len(chunk_ids)
    assert set(doc_ids) == set(store.ids())
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
import fake_embedder, semclust
store = semclust.Store.open(sys.argv[1], model=fake_embedder.FakeEmbedder(), cache=False)
for b in range(1000):
    store.add([{"id": f"b{b}-{j}", "text": f"batch {b} article {j} words " * 30} for j in range(25)])
    print(b, flush=True)
"""


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.1, 1.6, 2.2])
def test_kill_9_mid_add_leaves_last_commit(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "k.semclust"
    semclust.Store.open(path, model=FakeEmbedder(), cache=False).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    store = semclust.Store.open(path, cache=False)
    n = len(store)
    assert n % 25 == 0  # whole batches only
    committed = len(out.split())
    assert n // 25 in (committed, committed + 1)  # killed after printing, or before
    info = store.info()
    _, chunk_ids, doc_ids = store.embeddings()
    assert len(chunk_ids) == info["chunks"] and len(set(doc_ids)) == n
    if n:
        assert store.search("batch 0 article 3", k=1).ids
    store.add([{"id": "after", "text": "written after the crash"}])
    assert len(store) == n + 1
    assert len(list((path / "snapshots").iterdir())) == 1


def test_readers_during_writes_see_whole_commits(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "rw"
    writer = semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    writer.add(corpus(2))
    reader = semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    errors: list[BaseException] = []
    seen_sizes: set[int] = set()
    stop = threading.Event()

    def read_loop() -> None:
        try:
            for _ in range(400):
                if stop.is_set():
                    break
                hits = reader.search("batch article words football", k=5)
                assert len(hits) == 5 and all(h.passage for h in hits)
                rel = reader.related("sport-0", k=3)
                assert len(rel) == 3 and "sport-0" not in rel.ids
                _, chunk_ids, doc_ids = reader.embeddings()
                assert len(chunk_ids) == len(doc_ids)
                seen_sizes.add(len(set(doc_ids)))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=read_loop) for _ in range(3)]
    for t in threads:
        t.start()
    for b in range(8):
        writer.add([{"id": f"b{b}-{j}", "text": f"batch {b} article {j} words " * 20} for j in range(10)])
        writer.delete([f"b{b}-0"])
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[0]
    assert len(reader) == 6 + 8 * 9
    assert len(seen_sizes) > 1  # the readers really saw the store change


def test_similarity_ids_and_texts_are_explicit(make_store) -> None:
    store = make_store()
    store.add(corpus(2))
    store.add([{"id": "copy", "text": corpus(2)[0]["text"]}])
    with pytest.raises(NotFoundError, match="no-such-id") as err:
        store.similarity("no-such-id", "sport-0")  # a mistyped id is never scored as text
    assert "text=" in str(err.value)
    with pytest.raises(NotFoundError, match="sprot-0"):
        store.similarity("sport-0", "sprot-0")
    with pytest.raises(NotFoundError, match="no-such-id"):
        store.article_vectors("no-such-id")
    # A one-word text is given as text=; a text with spaces still reads as a text.
    assert store.similarity("sport-0", text="football") > store.similarity("sport-0", text="inflation")
    assert store.similarity("football goal", "football goal") == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(store.article_vectors("copy"), store.article_vectors("sport-0"))
    as_text = store.article_vectors(text="sport-0")  # never looked up as an id
    assert as_text.shape[0] == 1 and not np.allclose(as_text[0], store.article_vectors("sport-0")[0])
    with pytest.raises(InvalidArgumentError):
        store.similarity("sport-0")
    with pytest.raises(InvalidArgumentError):
        store.article_vectors("sport-0", text="x")


def test_theme_of_ids_and_texts_are_explicit(make_store) -> None:
    store = make_store()
    store.add(corpus(6))
    fitted = store.theme_of("sport-0")
    assert fitted.doc_id == "sport-0" and fitted.fitted
    with pytest.raises(NotFoundError, match="no-such-id"):
        store.theme_of("no-such-id")  # a mistyped id is never predicted as a text
    as_text = store.theme_of(text="no-such-id")  # text= is never looked up as an id
    assert as_text.doc_id is None and not as_text.fitted
    by_text = store.theme_of(text=store.get("sport-0").text)
    assert by_text.theme_id == fitted.theme_id
    with pytest.raises(InvalidArgumentError):
        store.theme_of()
    with pytest.raises(InvalidArgumentError):
        store.theme_of("sport-0", text="x")
