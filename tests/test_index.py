"""The vector index of a snapshot: exact below the threshold, tuned HNSW above, re-ranking,
growth by appending, filtered search and old snapshots."""

import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest

import semclust
import semclust.vectors.ann as ann
import semclust.vectors.exact as exact_mod
import semclust.vectors.snapshot as snapshot_mod
import semclust.vectors.tuning as tuning
from semclust.errors import StoreError, StoreFormatError
from semclust.vectors import Snapshot, exact_search, validate_factory
from semclust.vectors.ann import HNSW_FACTORY

DIM = 32


def clustered(n: int, seed: int = 0, centers: int = 20, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around a few fixed random centres (clustered, like real embeddings)."""
    c = np.random.default_rng(12345).standard_normal((centers, DIM)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centers, n)] + spread * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(
        DIM
    )
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write(root: Path, gen: int, vectors: np.ndarray, **kw) -> Snapshot:
    n = len(vectors)
    ids = kw.pop("chunk_ids", np.arange(1, n + 1, dtype=np.int64))
    seqs = kw.pop("doc_seqs", np.arange(n, dtype=np.int64) // 3)
    Snapshot.write(root, gen, vectors, ids, seqs, kw.pop("factory", "auto"), **kw)
    return Snapshot.load(root, gen, DIM)


def brute(vectors: np.ndarray, q: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    cand = np.arange(len(vectors)) if rows is None else rows
    sims = q @ vectors[cand].T
    return cand[np.argsort(-sims, axis=1, kind="stable")[:, :k]]


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(got.tolist(), truth.tolist())]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    base = clustered(3000, seed=1)
    queries = clustered(40, seed=2)  # same centres, other points: not in the base
    return base, queries


def test_auto_exact_below_threshold_hnsw_above(tmp_path: Path, data) -> None:
    base, _ = data
    small = write(tmp_path, 1, base[:999], auto_threshold=1000)
    info = small.index_info
    assert small.index is None and not (tmp_path / "0000000001" / "index.faiss").exists()
    assert info["kind"] == "exact" and info["requested"] == "auto" and info["threshold"] == 1000
    assert info["recall_at_10"] == 1.0 and info["format_version"] == 1
    big = write(tmp_path, 2, base[:1000], auto_threshold=1000)
    info = big.index_info
    assert info["kind"] == "hnsw" and info["factory"] == HNSW_FACTORY and info["built"] == "full"
    assert info["params"]["M"] == 32 and info["params"]["efSearch"] in tuning.EF_SEARCH_LADDER
    assert info["rows"] == 1000 == big.index.ntotal
    assert isinstance(big.vectors, np.memmap)  # opening does not read the matrix


def test_hnsw_results_match_exact_with_exact_scores(tmp_path: Path, data) -> None:
    base, queries = data
    snap = write(tmp_path, 1, base, auto_threshold=100)
    assert snap.index_info["kind"] == "hnsw"
    scores, rows = snap.search(queries, 10)
    assert rows.shape == (40, 10) and (rows >= 0).all()
    assert recall(rows, brute(base, queries, 10)) >= 0.95
    # Re-ranked: every score is the exact inner product, best first.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, base[rows]), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-7).all()


def test_tuning_reaches_target_and_is_recorded(tmp_path: Path, data) -> None:
    base, _ = data
    easy = write(tmp_path, 1, base, auto_threshold=100, target_recall=0.5).index_info
    assert easy["params"]["efSearch"] == tuning.EF_SEARCH_LADDER[0] and easy["recall_at_10"] >= 0.5
    strict = write(tmp_path, 2, base, auto_threshold=100, target_recall=0.99).index_info
    assert strict["target_recall"] == 0.99
    assert strict["recall_at_10"] >= 0.99 or strict["params"]["efSearch"] == tuning.EF_SEARCH_LADDER[-1]
    how = strict["recall_measured"]
    assert how["queries"] == tuning.TUNE_QUERIES and how["k"] == 10 and how["seed"] == 0
    with pytest.raises(semclust.InvalidArgumentError, match="target_recall"):
        write(tmp_path, 3, base, target_recall=1.5)


def test_appending_extends_other_changes_rebuild(tmp_path: Path, data) -> None:
    base, queries = data
    first = write(tmp_path, 1, base[:1200], auto_threshold=1000)
    assert first.index_info["built"] == "full"
    grown = write(tmp_path, 2, base[:2000], auto_threshold=1000, base=first)
    info = grown.index_info
    assert info["built"] == "extended" and info["rows_at_full_build"] == 1200 and grown.index.ntotal == 2000
    assert info["recall_at_10"] >= 0.95
    _, rows = grown.search(queries, 10)
    assert recall(rows, brute(base[:2000], queries, 10)) >= 0.95
    # Too few new rows to measure recall with: extended, the tuning is kept.
    little = write(tmp_path, 8, base[:2050], auto_threshold=1000, base=grown).index_info
    assert little["built"] == "extended" and little["rows"] == 2050
    assert little["params"] == info["params"] and little["recall_at_10"] == info["recall_at_10"]
    # Past twice the rows of the last full build: rebuilt.
    assert write(tmp_path, 3, base[:2500], auto_threshold=1000, base=grown).index_info["built"] == "full"
    # A deleted row (the rows no longer start with the base's): rebuilt.
    kept = np.r_[0:500, 501:2000]
    dropped = write(
        tmp_path, 4, base[kept], auto_threshold=1000, base=grown, chunk_ids=np.arange(1, 2001)[kept]
    )
    assert dropped.index_info["built"] == "full"
    # Same chunk ids but other vectors: rebuilt, not extended.
    other = write(tmp_path, 5, np.vstack([base[1:1201], base[1200:1300]]), auto_threshold=1000, base=first)
    assert other.index_info["built"] == "full"
    # Crossing the threshold from exact search: built from scratch.
    exact = write(tmp_path, 6, base[:900], auto_threshold=1000)
    assert write(tmp_path, 7, base[:1100], auto_threshold=1000, base=exact).index_info["built"] == "full"


def test_filtered_search_with_hnsw(tmp_path: Path, data, monkeypatch) -> None:
    base, queries = data
    snap = write(tmp_path, 1, base, auto_threshold=100)
    allowed = np.flatnonzero(np.arange(len(base)) % 3 == 0)
    for exact_rows in (10_000, 100):  # exact scoring of the allowed rows, then FAISS's selector
        monkeypatch.setattr(snapshot_mod, "_EXACT_FILTER_ROWS", exact_rows)
        scores, rows = snap.search(queries, 10, allowed)
        assert np.isin(rows, allowed).all()
        assert recall(rows, brute(base, queries, 10, allowed)) >= 0.95
        np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, base[rows]), atol=1e-5)
    few = np.array([5, 17, 400])
    scores, rows = snap.search(queries[:2], 10, few)
    assert rows.shape == (2, 3) and set(rows[0]) == set(few.tolist())
    assert snap.search(queries[:2], 10, np.zeros(0, np.int64))[1].shape == (2, 0)


def test_exact_search_blocks_and_ties(monkeypatch) -> None:
    base = clustered(5000, seed=3)
    q = clustered(7, seed=4)
    monkeypatch.setattr(exact_mod, "_BLOCK_ELEMENTS", 7 * 1500)  # several blocks per query batch
    _, rows = exact_search(base, q, 12)
    np.testing.assert_array_equal(rows, brute(base, q, 12))
    sub = np.arange(0, 5000, 7)
    np.testing.assert_array_equal(exact_search(base, q, 12, sub)[1], brute(base, q, 12, sub))
    twins = np.vstack([base[:3], base[:3]])  # equal scores: the lower row comes first
    np.testing.assert_array_equal(exact_search(twins, base[:1], 2)[1], [[0, 3]])
    assert exact_search(base.astype(np.float16), q, 3)[1].shape == (7, 3)  # any float dtype


def test_large_k_falls_back_to_exact(tmp_path: Path, data) -> None:
    base, queries = data
    snap = write(tmp_path, 1, base, auto_threshold=100)
    _, rows = snap.search(queries[:3], 2500)
    np.testing.assert_array_equal(rows, brute(base, queries[:3], 2500))
    assert snap.search(queries[:1], 10_000)[1].shape == (1, 3000)


def test_user_factory_strings(tmp_path: Path, data) -> None:
    base, queries = data
    flat = write(tmp_path, 1, base, factory="Flat")
    assert flat.index is None and flat.index_info["kind"] == "exact" and flat.index_info["threshold"] is None
    ivf = write(tmp_path, 2, base, factory="IVF16,Flat")
    info = ivf.index_info
    assert info["kind"] == "ivf" and info["requested"] == "IVF16,Flat" and "nprobe" in info["params"]
    assert info["recall_at_10"] >= 0.95
    _, rows = ivf.search(queries, 10)
    assert recall(rows, brute(base, queries, 10)) >= 0.9
    hnsw = write(tmp_path, 3, base, factory="HNSW16")
    params = hnsw.index_info["params"]
    assert hnsw.index_info["kind"] == "hnsw" and params["M"] == 16
    assert params["efConstruction"] == ann.EF_CONSTRUCTION and hnsw.index_info["rerank_factor"] == 2
    pq = write(tmp_path, 4, base, factory="PQ16x4")  # coarse codes: ten candidates per hit, re-ranked
    assert pq.index_info["kind"] == "faiss" and pq.index_info["rerank_factor"] == ann.RERANK_FACTOR_PQ
    scores, rows = pq.search(queries, 10)
    assert recall(rows, brute(base, queries, 10)) >= 0.9
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, base[rows]), atol=1e-5)


def test_invalid_factory_raises_store_error(tmp_path: Path, data) -> None:
    base, _ = data
    with pytest.raises(StoreError, match="NoSuchIndex"):
        write(tmp_path, 1, base, factory="NoSuchIndex")
    with pytest.raises(StoreError, match="IVF8,Nope"):
        validate_factory("IVF8,Nope", DIM)
    validate_factory("auto", DIM)
    assert not (tmp_path / "0000000001").exists()


@pytest.mark.parametrize("factory", ["Flat", "HNSW16"])
def test_old_style_snapshot_loads(tmp_path: Path, data, factory: str) -> None:
    """Snapshots written before index.json existed: index.faiss only."""
    base, queries = data
    folder = Snapshot.folder(tmp_path, 1)
    folder.mkdir(parents=True)
    np.save(folder / "vectors.npy", base)
    np.save(folder / "chunk_ids.npy", np.arange(1, len(base) + 1, dtype=np.int64))
    np.save(folder / "doc_seqs.npy", np.arange(len(base), dtype=np.int64) // 3)
    old = faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)
    old.add(base)
    faiss.write_index(old, str(folder / "index.faiss"))
    snap = Snapshot.load(tmp_path, 1, DIM)
    info = snap.index_info
    assert info["built"] == "unknown" and info["format_version"] == 0
    assert info["kind"] == ("exact" if factory == "Flat" else "hnsw")
    assert (snap.index is None) == (factory == "Flat")  # exact: the memory map, not a copy
    scores, rows = snap.search(queries, 10)
    assert recall(rows, brute(base, queries, 10)) >= (1.0 if factory == "Flat" else 0.9)
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, base[rows]), atol=1e-5)
    # An appended snapshot derived from it is built afresh.
    assert write(tmp_path, 2, base, factory=factory, base=snap).index_info["built"] in ("none", "full")


def test_snapshot_removed_while_loading_is_not_damage(tmp_path: Path, data, monkeypatch) -> None:
    """A writer may remove an old snapshot while a reader opens it: that is FileNotFoundError
    (the store retries with the new generation), never "damaged"."""
    base, _ = data
    write(tmp_path, 1, base[:50])
    folder = Snapshot.folder(tmp_path, 1)
    real_load = np.load

    def load_then_vanish(path, *a, **kw):
        out = real_load(path, *a, **kw)
        if Path(path).name == "doc_seqs.npy":  # the last array read before index.json
            shutil.rmtree(folder)
        return out

    monkeypatch.setattr(snapshot_mod.np, "load", load_then_vanish)
    with pytest.raises(FileNotFoundError):
        Snapshot.load(tmp_path, 1, DIM)


def test_newer_index_json_is_refused(tmp_path: Path, data) -> None:
    base, _ = data
    write(tmp_path, 1, base[:50])
    path = Snapshot.folder(tmp_path, 1) / "index.json"
    path.write_text(path.read_text().replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(StoreFormatError, match="format version 99"):
        Snapshot.load(tmp_path, 1, DIM)


def test_store_switching_to_hnsw_keeps_search_results(make_store) -> None:
    """The same articles in a store searched exactly and in one past a lowered threshold."""
    rng = np.random.default_rng(0)
    vocab = [f"word{i}" for i in range(400)]
    docs = []
    for i in range(240):
        topic = rng.integers(0, 8)
        words = [vocab[topic * 50 + j] for j in rng.integers(0, 50, 60)]
        text = " ".join(" ".join(words[s : s + 8]) + "." for s in range(0, 60, 8))
        docs.append({"id": f"d{i}", "title": f"doc {i}", "text": text})
    exact = make_store("exact")
    exact.add(docs)
    approx = make_store("approx", index_threshold=100)  # the store's own setting
    approx.add(docs[:200])
    assert approx.info()["index_state"]["built"] == "full"
    approx.add(docs[200:])
    state = approx.info()["index_state"]
    assert exact.info()["index_state"]["kind"] == "exact"
    assert state["kind"] == "hnsw" and state["built"] == "extended"
    assert approx.manifest["index"]["threshold"] == 100
    assert approx.info()["chunks"] > 2 * 32 * 8  # large enough that a k=5 search goes through HNSW
    same = overlap = 0
    for i in range(0, 240, 6):
        query = " ".join(docs[i]["text"].split()[:24])
        a, b = exact.search(query, k=5), approx.search(query, k=5)
        assert a.ids[0] == b.ids[0] == docs[i]["id"]
        same += a.ids == b.ids
        overlap += len(set(a.ids) & set(b.ids))
        scores = {h.doc_id: h.score for h in a}
        assert all(h.score == pytest.approx(scores[h.doc_id], abs=1e-5) for h in b if h.doc_id in scores)
    assert same >= 36 and overlap >= 0.95 * 5 * 40  # approximate, but nearly always the same


def test_rerank_reads_rows_with_pread_or_the_memory_map(tmp_path: Path, data, monkeypatch) -> None:
    base, queries = data
    snap = write(tmp_path, 1, base, auto_threshold=100)
    assert snap._reader is not None  # an opened snapshot re-ranks from the file
    by_pread = snap.search(queries, 10)
    monkeypatch.setattr(exact_mod, "_PREAD_ROWS", 0)  # too many rows: through the memory map
    by_mmap = snap.search(queries, 10)
    np.testing.assert_array_equal(by_pread[1], by_mmap[1])
    np.testing.assert_array_equal(by_pread[0], by_mmap[0])


def topic_docs(n: int) -> list[dict]:
    """``n`` articles over 8 word topics (each repeats its words, so search finds it first)."""
    rng = np.random.default_rng(0)
    vocab = [f"word{i}" for i in range(400)]
    docs = []
    for i in range(n):
        topic = rng.integers(0, 8)
        words = [vocab[topic * 50 + j] for j in rng.integers(0, 50, 60)]
        text = " ".join(" ".join(words[s : s + 8]) + "." for s in range(0, 60, 8))
        docs.append({"id": f"d{i}", "title": f"doc {i}", "text": text})
    return docs


def test_store_ivf_threshold_builds_ivf_and_keeps_search_results(make_store, tmp_path: Path) -> None:
    """``ivf_threshold=`` (a store option, kept in its manifest) switches "auto" to IVF."""
    docs = topic_docs(300)
    exact = make_store("exact")
    exact.add(docs)
    ivf = make_store("ivf", index_threshold=100, ivf_threshold=500)
    ivf.add(docs)
    hnsw = make_store("hnsw", index_threshold=100)  # the default ivf_threshold (4M): HNSW
    hnsw.add(docs)
    chunks = ivf.info()["chunks"]
    assert chunks >= 500
    state = ivf.info()["index_state"]
    assert state["kind"] == "ivf" and state["factory"].startswith("IVF") and state["ivf_threshold"] == 500
    assert ivf.info()["index"]["ivf_threshold"] == 500 and ivf.manifest["index"]["threshold"] == 100
    assert hnsw.info()["index_state"]["kind"] == "hnsw" and "ivf_threshold" not in hnsw.manifest["index"]
    ivf.close()
    reopened = semclust.Store.open(tmp_path / "ivf", model=ivf.embedder, cache=False, ivf_threshold=7)
    assert reopened.manifest["index"]["ivf_threshold"] == 500  # new store only: the store keeps its own
    found = overlap = 0
    for i in range(0, 300, 10):
        query = " ".join(docs[i]["text"].split()[:24])
        a, b = exact.search(query, k=5), reopened.search(query, k=5)
        found += b.ids[0] == docs[i]["id"] == a.ids[0]
        overlap += len(set(a.ids) & set(b.ids))
        scores = {h.doc_id: h.score for h in a}
        assert all(h.score == pytest.approx(scores[h.doc_id], abs=1e-5) for h in b if h.doc_id in scores)
    assert found == 30 and overlap >= 0.9 * 5 * 30  # re-ranked exactly: nearly always the same


@pytest.mark.parametrize("bad", [0, -5, 2.5, "many", True])
def test_bad_ivf_threshold_is_refused_before_anything_is_written(make_store, tmp_path: Path, bad) -> None:
    from semclust.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"ivf_threshold must be a whole number of chunks"):
        make_store("bad", ivf_threshold=bad)
    assert not (tmp_path / "bad").exists()


def test_cli_index_ivf_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from semclust.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps(d) + "\n" for d in topic_docs(10)))
    store = tmp_path / "s"
    fake = ["--model", "fake", "--backend", "fake", "--json"]
    assert main(["index", str(folder), "--store", str(store), *fake, "--ivf-threshold", "0"]) != 0
    assert "ivf_threshold must be a whole number" in capsys.readouterr().err and not store.exists()
    assert main(["index", str(folder), "--store", str(store), *fake, "--ivf-threshold", "12345"]) == 0
    capsys.readouterr()
    with semclust.Store.open(store) as st:
        assert st.manifest["index"]["ivf_threshold"] == 12345 and len(st) == 10
