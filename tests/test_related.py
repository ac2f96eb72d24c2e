"""Precomputed related lists: equal to live ranking, kept current by every commit."""

from __future__ import annotations

import random

import numpy as np
import pytest

import semclust
from semclust.search.ranking import rank_related
from semclust.search.related import related_lists

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
    with store._view() as snap:  # the live path, bypassing the lists
        seq = store._row(doc_id).seq
        vecs = np.asarray(snap.vectors[snap.rows_of(seq)])
        ranked = rank_related(snap, vecs, k, exclude=frozenset({seq}))
        ids = {r.seq: r.doc.id for r in store._catalog.by_seq([s for s, _, _ in ranked]).values()}
    return [(ids[s], round(score, 6)) for s, score, _ in ranked]


def listed(store: semclust.Store, doc_id: str, k: int) -> list[tuple[str, float]]:
    return [(h.doc_id, h.score) for h in store.related(doc_id, k)]


def assert_lists_current(store: semclust.Store, k: int) -> None:
    for doc_id in store.ids():
        if store.duplicate_of(doc_id):
            continue
        got, want = listed(store, doc_id, k), live(store, doc_id, k)
        assert [d for d, _ in got] == [d for d, _ in want], doc_id
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_batched_lists_equal_live_ranking(make_store) -> None:
    store = make_store(related_k=8)
    store.add(corpus(40))
    with store._view() as snap:
        lists = related_lists(snap, snap.seqs(), 8)
        for seq, (others, scores, rows) in lists.items():
            vecs = np.asarray(snap.vectors[snap.rows_of(seq)])
            ranked = rank_related(snap, vecs, 8, exclude=frozenset({seq}))
            assert others.tolist() == [r[0] for r in ranked]
            assert np.allclose(scores, [r[1] for r in ranked], atol=1e-5)
            assert rows.tolist() == [r[2] for r in ranked]


def test_related_answers_from_the_table(make_store) -> None:
    store = make_store(related_k=6)
    store.add(corpus(30))
    with store._catalog.read():
        assert store._catalog.state("related_k") == "6"
        n_rows = store._catalog.db.execute("SELECT COUNT(*) FROM related").fetchone()[0]
    assert n_rows == 30 * 6
    assert_lists_current(store, 6)
    # k above the list length, a filter, or the centroid method still work (live).
    assert len(store.related("econ-0", 12)) == 12
    assert [h.doc_id for h in store.related("econ-0", 3, title="sport 1")] == ["sport-1"]
    assert len(store.related("econ-0", 3, method="centroid")) == 3


@pytest.mark.parametrize("step", ["add", "delete", "update", "duplicate"])
def test_commits_keep_every_list_current(make_store, step: str) -> None:
    docs = corpus(36, seed=1)
    store = make_store(related_k=5)
    store.add(docs[:30])
    if step == "add":
        store.add(docs[30:])
    elif step == "delete":
        store.delete(["econ-0", "sport-5", "tech-10"])
    elif step == "update":
        store.add([semclust.Document(id="econ-4", text=docs[1].text + " Extra words about team play.")])
    else:  # a duplicate of a listed article, then its canonical goes away (promotion)
        store.add([semclust.Document(id="copy", text=docs[2].text, title=docs[2].title)])
        store.delete([docs[2].id])
    assert_lists_current(store, 5)


def test_related_k_zero_stores_no_lists(make_store) -> None:
    store = make_store(related_k=0)
    store.add(corpus(12))
    with store._catalog.read():
        assert store._catalog.db.execute("SELECT COUNT(*) FROM related").fetchone()[0] == 0
    assert len(store.related("econ-0", 3)) == 3


def test_real_model_lists(real_seed_store: semclust.Store) -> None:
    """The seeds store (real model) answers related from its lists, and they match live."""
    assert_lists_current(real_seed_store, 1)


def test_bad_store_settings_fail_at_open_and_write_nothing(make_store, tmp_path) -> None:
    with pytest.raises(semclust.InvalidArgumentError, match="related_k must be 0 or more"):
        make_store("neg", related_k=-1)
    with pytest.raises(semclust.StoreError, match="NoSuchIndex"):
        make_store("badindex", index="NoSuchIndex")
    assert not (tmp_path / "neg").exists() and not (tmp_path / "badindex").exists()
