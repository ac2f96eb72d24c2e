"""Precomputed related lists: equal to live ranking, kept current by every commit."""

from __future__ import annotations

import random
import sqlite3

import numpy as np
import pytest
from conftest import SEEDS

import semclust
from semclust.search.ranking import rank_related
from semclust.search.related import related_lists
from semclust.vectors.snapshot import Snapshot

TOPICS = {
    "econ": "bank rates inflation market shares investors profit growth economy trade",
    "sport": "match goal team league season coach player score championship win",
    "tech": "software chip computer internet phone data network users device code",
    "politics": "minister election party vote parliament government policy law campaign",
}


def corpus(n: int, seed: int = 0) -> list[semclust.Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        topic = list(TOPICS)[i % len(TOPICS)]
        words = TOPICS[topic].split()
        sentences = [
            " ".join(rng.choice(words) for _ in range(rng.randint(6, 12))).capitalize() + "."
            for _ in range(rng.randint(2, 9))
        ]
        docs.append(semclust.Document(id=f"{topic}-{i}", text=" ".join(sentences), title=f"{topic} {i}"))
    return docs


def live(store: semclust.Store, doc_id: str, k: int) -> list[tuple[str, float]]:
    """Live ranking through the public API: the same articles in a store without lists."""
    return [(h.doc_id, h.score) for h in store.related(doc_id, k)]


def twin(make_store, name: str, **kw) -> tuple[semclust.Store, semclust.Store]:
    """A store with related lists and one without (answers live), given the same writes."""
    return make_store(name, **kw), make_store(name + "-live", related_k=0)


def related_table(store: semclust.Store) -> tuple[str | None, int]:
    """``(state related_k, rows in the related table)``, read from the store's SQLite file."""
    with sqlite3.connect(store.path / "store.sqlite") as db:
        row = db.execute("SELECT value FROM state WHERE key = 'related_k'").fetchone()
        n = db.execute("SELECT COUNT(*) FROM related").fetchone()[0]
    return (row[0] if row else None), int(n)


def listed(store: semclust.Store, doc_id: str, k: int) -> list[tuple[str, float]]:
    return [(h.doc_id, h.score) for h in store.related(doc_id, k)]


def assert_lists_current(store: semclust.Store, reference: semclust.Store, k: int) -> None:
    assert store.ids() == reference.ids()
    for doc_id in store.ids():
        if store.duplicate_of(doc_id):
            continue
        got, want = listed(store, doc_id, k), live(reference, doc_id, k)
        assert [d for d, _ in got] == [d for d, _ in want], doc_id
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_batched_lists_equal_live_ranking(make_store) -> None:
    store = make_store(related_k=8)
    store.add(corpus(40))
    vectors, chunk_ids, doc_ids = store.embeddings()
    seq_of = {d: i for i, d in enumerate(dict.fromkeys(doc_ids))}
    snap = Snapshot(1, np.asarray(vectors), chunk_ids, np.array([seq_of[d] for d in doc_ids]), None)
    lists = related_lists(snap, snap.seqs(), 8)
    assert len(lists) == 40
    for seq, (others, scores, rows) in lists.items():
        vecs = np.asarray(snap.vectors[snap.rows_of(seq)])
        ranked = rank_related(snap, vecs, 8, exclude=frozenset({seq}))
        assert others.tolist() == [r[0] for r in ranked]
        assert np.allclose(scores, [r[1] for r in ranked], atol=1e-5)
        assert rows.tolist() == [r[2] for r in ranked]


def test_related_answers_from_the_table(make_store) -> None:
    store, reference = twin(make_store, "s", related_k=6)
    for s in (store, reference):
        s.add(corpus(30))
    assert related_table(store) == ("6", 30 * 6)
    assert_lists_current(store, reference, 6)
    # k above the list length, a filter, or the centroid method still work (live).
    assert len(store.related("econ-0", 12)) == 12
    assert [h.doc_id for h in store.related("econ-0", 3, title="sport 1")] == ["sport-1"]
    assert len(store.related("econ-0", 3, method="centroid")) == 3


def write_then(store: semclust.Store, docs: list[semclust.Document], step: str) -> None:
    """Add the first 30 of ``docs``, then one kind of change (``"first"``: none)."""
    store.add(docs[:30])
    if step == "add":
        store.add(docs[30:])
    elif step == "delete":
        store.delete(["econ-0", "sport-5", "tech-10"])
    elif step == "update":
        store.add([semclust.Document(id="econ-4", text=docs[1].text + " Extra words about team play.")])
    elif step == "duplicate":  # a duplicate of a listed article, then its canonical goes away (promotion)
        store.add([semclust.Document(id="copy", text=docs[2].text, title=docs[2].title)])
        store.delete([docs[2].id])


@pytest.mark.parametrize("step", ["add", "delete", "update", "duplicate"])
def test_commits_keep_every_list_current(make_store, step: str) -> None:
    docs = corpus(36, seed=1)
    store, reference = twin(make_store, "s", related_k=5)
    for s in (store, reference):
        write_then(s, docs, step)
    assert_lists_current(store, reference, 5)


def test_related_k_zero_stores_no_lists(make_store) -> None:
    store = make_store(related_k=0)
    store.add(corpus(12))
    assert related_table(store) == (None, 0)
    assert len(store.related("econ-0", 3)) == 3


def test_real_model_lists(tmp_path) -> None:
    """A store on the real model answers related from its lists, and they match live ranking
    on a corpus of several topics (the seeds alone, two articles, match trivially)."""
    docs = corpus(24, seed=3) + [semclust.Document(id=p.stem, text=p.read_text()) for p in sorted(SEEDS.glob("*.txt"))]
    store = semclust.Store.open(tmp_path / "lists", related_k=4)
    reference = semclust.Store.open(tmp_path / "live", related_k=0)
    for s in (store, reference):
        s.add(docs)
    assert related_table(store) == ("4", 26 * 4)
    assert_lists_current(store, reference, 4)
    assert store.related("china-hungary-security", 1).ids == ["nato-china-watching-ukraine"]


def test_bad_store_settings_fail_at_open_and_write_nothing(make_store, tmp_path) -> None:
    with pytest.raises(semclust.InvalidArgumentError, match="related_k must be 0 or more"):
        make_store("neg", related_k=-1)
    with pytest.raises(semclust.StoreError, match="NoSuchIndex"):
        make_store("badindex", index="NoSuchIndex")
    assert not (tmp_path / "neg").exists() and not (tmp_path / "badindex").exists()


def long_corpus() -> list[semclust.Document]:
    """Short articles and a few long ones (past OWN_ROWS_TRIM chunks), on shared topics."""
    docs = corpus(30, seed=5)
    rng = random.Random(7)
    for j, topic in enumerate(["econ", "sport", "tech"]):
        words = TOPICS[topic].split()
        text = " ".join(" ".join(rng.choice(words) for _ in range(10)).capitalize() + "." for _ in range(400))
        docs.append(semclust.Document(id=f"long-{topic}", text=text, title=f"long {j}"))
    return docs


def test_long_articles_lists_equal_live(make_store) -> None:
    from semclust.search.ranking import OWN_ROWS_TRIM

    store, reference = twin(make_store, "s", related_k=5)
    for s in (store, reference):
        s.add(long_corpus())
    assert max(len(store.chunks(f"long-{t}")) for t in ("econ", "sport", "tech")) > OWN_ROWS_TRIM
    assert_lists_current(store, reference, 5)
    assert len(store.related("long-econ", 5)) == 5


def test_refresh_work_is_linear_in_the_chunks_of_a_long_article(make_store, monkeypatch) -> None:
    """Adding one long article asks the index for a number of neighbours proportional to its
    chunks (its own chunks used to fill their neighbour lists, widening the search to the whole
    store for every chunk: quadratic)."""
    asked: list[int] = []
    real = Snapshot.search

    def search(self, queries, k, allowed_rows=None):
        asked.append(len(queries) * min(k, self.size))
        return real(self, queries, k, allowed_rows)

    store = make_store(related_k=5)
    store.add(corpus(20, seed=2))
    monkeypatch.setattr(Snapshot, "search", search)
    rng = random.Random(1)
    words = ["glacier", "ice", "melt", "polar", "climate", "ocean", "warming", "snow", "arctic", "sea", "level"]  # its own topic
    text = " ".join(" ".join(rng.choice(words) for _ in range(10)) + "." for _ in range(900))
    report = store.add([semclust.Document(id="long", text=text)])
    assert report.chunks > 400
    assert sum(asked) < 300 * report.chunks, (sum(asked), report.chunks)


def test_segment_scores_in_blocks_equal_one_product(monkeypatch) -> None:
    from semclust.search import ranking

    rng = np.random.default_rng(0)
    a = rng.normal(size=(37, 8)).astype(np.float32)
    b = rng.normal(size=(50, 8)).astype(np.float32)
    starts = np.array([0, 5, 6, 20, 44])
    whole = ranking.segment_scores(a, b, starts)
    monkeypatch.setattr(ranking, "SCORE_BLOCK_ELEMENTS", 60)  # blocks of one row of a
    blocked = ranking.segment_scores(a, b, starts)
    np.testing.assert_allclose(whole[0], blocked[0], rtol=1e-6)
    np.testing.assert_array_equal(whole[1], blocked[1])
    sims = a @ b.T
    seg = [slice(s, e) for s, e in zip(starts, [*starts[1:], len(b)])]
    naive = [0.5 * (sims[:, g].max(axis=1).mean() + sims[:, g].max(axis=0).mean()) for g in seg]
    np.testing.assert_allclose(whole[0], naive, rtol=1e-5)


@pytest.mark.parametrize("step", ["first", "add", "delete", "update"])
def test_lists_computed_in_blocks_stay_current(make_store, monkeypatch, step: str) -> None:
    """With blocks of 4 articles, each batched search holds only its block's queries (a store of
    1M chunks searched at once held GBs of candidates), and every list still equals live ranking
    after the first commit and after each kind of change."""
    from semclust.search import related

    queries: list[int] = []
    real = Snapshot.search

    def search(self, q, k, allowed_rows=None):
        queries.append(len(q))
        return real(self, q, k, allowed_rows)

    monkeypatch.setattr(related, "RELATED_BLOCK", 4)
    monkeypatch.setattr(Snapshot, "search", search)
    docs = corpus(36, seed=4)
    store, reference = twin(make_store, "s", related_k=5)
    for s in (store, reference):
        write_then(s, docs, step)
    most_chunks = max(len(store.chunks(d)) for d in store.ids())
    assert max(queries) <= 4 * (most_chunks + 1)  # chunk vectors and centroid of 4 articles
    assert_lists_current(store, reference, 5)
    assert related_table(store) == ("5", 5 * len(store))  # no list of a deleted article is left
