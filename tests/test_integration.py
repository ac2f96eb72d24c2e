"""Integration tests on the real bundled model (all-MiniLM-L6-v2), real FAISS and SQLite."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import data_dir

import semclust

pytestmark = pytest.mark.integration


def test_model_loads_offline_and_normalises() -> None:
    emb = semclust.get_embedder()
    assert emb.name == "all-MiniLM-L6-v2" and emb.dimension == 384 and emb.max_tokens == 254
    vecs = emb.embed(["China offers Hungary security support.", "NATO watches Russia in Ukraine."])
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert semclust.get_embedder().fingerprint == emb.fingerprint


def test_no_network_needed() -> None:
    code = (
        "import socket\n"
        "def deny(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = deny\nsocket.create_connection = deny\n"
        "import semclust\n"
        "print(semclust.get_embedder().embed(['hello']).shape)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(1, 384)" in out.stdout


OTHER_ARTICLES = {
    "cup-final": "The football season ended with a dramatic cup final. The striker scored twice in "
    "extra time and the home fans invaded the pitch after the referee blew the final whistle.",
    "sourdough": "Bake a sourdough loaf at home: feed the starter the night before, fold the dough "
    "every half hour, and let it rise slowly in the fridge before baking in a hot oven.",
    "rate-cut": "The central bank cut interest rates by a quarter point as inflation cooled, and "
    "shares rallied while bond yields fell to their lowest level in a year.",
    "phone-launch": "The company unveiled a new phone with a faster chip, a brighter screen and a "
    "camera that works better at night; it goes on sale next month.",
    "heatwave": "A heatwave brought record temperatures to southern Europe, and forecasters warned "
    "of wildfires as farmers struggled to water their crops.",
    "garden": "Prune the roses in late winter, mulch the beds in spring, and water tomatoes in the "
    "morning so the leaves dry before the evening.",
}


@pytest.fixture(scope="module")
def seeds_and_others(tmp_path_factory):
    """The two seeds among six articles on other topics, so rankings can be wrong."""
    from conftest import SEEDS

    store = semclust.Store.open(tmp_path_factory.mktemp("mixed") / "mixed.semclust", cache=False)
    store.add([*semclust.read(SEEDS), *({"id": k, "text": v} for k, v in OTHER_ARTICLES.items())])
    return store


def test_seed_search_related_similarity(seeds_and_others) -> None:
    store = seeds_and_others
    assert len(store) == 8
    hits = store.search("Chinese security cooperation with Hungary", k=5)
    assert hits.ids[0] == "china-hungary-security" and len(hits) == 5
    assert "nato-china-watching-ukraine" in hits.ids[:2]
    assert "Hungary" in hits[0].passage
    rel = store.related("china-hungary-security", k=3)
    assert rel.ids[0] == "nato-china-watching-ukraine" and len(rel) == 3
    assert 0.3 < rel[0].score < 0.9 and rel[0].score > rel[1].score + 0.1
    assert store.related("cup-final", k=1).ids != ["china-hungary-security"]
    assert store.search("the striker scored in the final", k=1).ids == ["cup-final"]
    assert store.search("interest rates and inflation", k=1).ids == ["rate-cut"]
    frame = hits.to_frame()
    assert frame.loc[0, "doc_id"] == "china-hungary-security"
    s_same = store.similarity(
        "china-hungary-security", "Budapest and Beijing agree on police and security cooperation"
    )
    s_other = store.similarity(
        "china-hungary-security", "The football season ended with a dramatic cup final"
    )
    assert s_same > s_other + 0.2
    assert store.similarity("china-hungary-security", "nato-china-watching-ukraine") > store.similarity(
        "china-hungary-security", "sourdough"
    )
    assert store.similarity("nato-china-watching-ukraine", "nato-china-watching-ukraine") == pytest.approx(
        1.0, abs=1e-4
    )


def test_chunks_fit_model_budget(real_seed_store) -> None:
    emb = real_seed_store.embedder
    for doc_id in real_seed_store.ids():
        chunks = real_seed_store.chunks(doc_id)
        assert len(chunks) == 2  # both seeds are longer than one model window
        for c in chunks:
            assert emb.tokenizer.count_tokens([c.embed_text])[0] <= emb.max_tokens


def _bbc_sample(n_per_label: int) -> list[dict]:
    root = data_dir()
    if root is None or not (root / "bbc" / "bbc.jsonl.gz").exists():
        pytest.skip("../shared/data/bbc is not present (set SEMCLUST_DATA); see shared/data/README.md")
    per: dict[str, list[dict]] = {}
    with gzip.open(root / "bbc" / "bbc.jsonl.gz", "rt") as f:
        for line in f:
            rec = json.loads(line)
            if len(per.setdefault(rec["label"], [])) < n_per_label:
                per[rec["label"]].append(rec)
    return [r for recs in per.values() for r in recs]


@pytest.mark.data
def test_bbc_sample_related_precision(tmp_path) -> None:
    records = _bbc_sample(16)
    store = semclust.Store.open(tmp_path / "bbc", cache=False)
    report = store.add(records)
    assert len(report.added) == 80 and report.chunks > 80
    label = {r["id"]: r["label"] for r in records}
    prec = []
    for r in records:
        hits = store.related(r["id"], k=5)
        prec.append(sum(label[h] == r["label"] for h in hits.ids) / 5)
    assert np.mean(prec) >= 0.8
    sport = store.search("the striker scored twice in the cup match", k=5)
    assert sum(label[i] == "sport" for i in sport.ids) >= 4
