"""Snapshots at archive scale (the automatic IVF index) and snapshots that cannot be read."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
from test_index import DIM, brute, clustered, recall, write

import semclust
import semclust.vectors.snapshot as snapshot_mod
from semclust.errors import InvalidArgumentError, StoreFormatError
from semclust.vectors import Snapshot
from semclust.vectors.ann import IVF_CODES, RERANK_FACTOR_SQ4, choose_factory, ivf_factory, rerank_factor
from semclust.vectors.tuning import MIN_NPROBE, nprobe_floor, tunable


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    base = clustered(4000, seed=5)
    queries = clustered(60, seed=6)  # same centres, other points: not in the base
    return base, queries


# -- the automatic IVF index ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "factory"),
    [
        (3000, "IVF64,SQ4"),  # at least 40 training rows per list, at least 64 lists
        (200_000, "IVF2048,SQ4"),  # about 4 * sqrt(rows), a power of two
        (4_000_000, "IVF8192,SQ4"),
        (30_000_000, "IVF16384,SQ4"),
        (10**10, "IVF65536,SQ4"),  # at most 65,536 lists
    ],
)
def test_ivf_factory_by_rows(rows: int, factory: str) -> None:
    assert ivf_factory(rows) == factory
    faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)  # FAISS can build it


def test_rerank_factor_by_codes() -> None:
    assert rerank_factor("HNSW32,SQ8") == rerank_factor("IVF64,Flat") == 2
    assert rerank_factor("IVF64,SQ4") == rerank_factor("IVF64, SQ4") == 4
    assert rerank_factor("IVF64,PQ48") == rerank_factor("PQ16x4") == 10


def test_auto_chooses_exact_hnsw_then_ivf() -> None:
    assert choose_factory("auto", 99, 100, 1000, None) == "Flat"
    assert choose_factory("auto", 999, 100, 1000, None) == "HNSW32,SQ8"
    assert choose_factory("auto", 3000, 100, 1000, None) == "IVF64,SQ4"
    # an automatic IVF base keeps its lists (so it can be extended); a user's factory is kept
    assert (
        choose_factory("auto", 9000, 100, 1000, {"requested": "auto", "factory": "IVF64,SQ4"}) == "IVF64,SQ4"
    )
    assert (
        choose_factory("auto", 9000, 100, 1000, {"requested": "auto", "factory": "HNSW32,SQ8"})
        != "HNSW32,SQ8"
    )
    assert choose_factory("IVF16,Flat", 10, 100, 1000, None) == "IVF16,Flat"


def test_auto_ivf_above_its_threshold(tmp_path: Path, data) -> None:
    base, queries = data
    below = write(tmp_path, 1, base, auto_threshold=100, ivf_threshold=len(base) + 1)
    assert below.index_info["kind"] == "hnsw" and below.index_info["ivf_threshold"] == len(base) + 1
    snap = write(tmp_path, 2, base, auto_threshold=100, ivf_threshold=2000)
    info = snap.index_info
    assert info["kind"] == "ivf" and info["factory"] == f"IVF64,{IVF_CODES}" and info["requested"] == "auto"
    assert info["ivf_threshold"] == 2000 and info["threshold"] == 100 and info["built"] == "full"
    assert info["params"]["nlist"] == 64 and info["params"]["code_bytes"] == DIM // 2  # 4-bit codes
    assert info["params"]["nprobe"] >= nprobe_floor(64) == MIN_NPROBE
    assert info["recall_at_10"] >= 0.95 and info["recall_measured"]["queries"] == 200
    assert info["rerank_factor"] == RERANK_FACTOR_SQ4 == 4 and snap.index.ntotal == len(base)
    scores, rows = snap.search(queries, 10)
    assert recall(rows, brute(base, queries, 10)) >= 0.95
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, base[rows]), atol=1e-5)


def test_auto_ivf_has_an_nprobe_floor(tmp_path: Path, data) -> None:
    """An easy target stops the tuning at the floor for "auto", below it for a user's IVF."""
    base, _ = data
    auto = write(tmp_path, 1, base, auto_threshold=100, ivf_threshold=2000, target_recall=0.3).index_info
    assert auto["params"]["nprobe"] == nprobe_floor(64)
    user = write(tmp_path, 2, base, factory="IVF64,SQ4", target_recall=0.3).index_info
    assert user["params"]["nprobe"] < nprobe_floor(64)
    index = faiss.index_factory(DIM, "IVF128,SQ4", faiss.METRIC_INNER_PRODUCT)
    assert tunable(index, 8) == ("nprobe", (8, 16, 32, 64, 128))
    assert tunable(index, 1)[1][:3] == (1, 2, 4)


def test_auto_ivf_grows_by_extension_and_filters(tmp_path: Path, data, monkeypatch) -> None:
    base, queries = data
    first = write(tmp_path, 1, base[:3000], auto_threshold=100, ivf_threshold=2000)
    grown = write(tmp_path, 2, base, auto_threshold=100, ivf_threshold=2000, base=first)
    info = grown.index_info
    assert info["built"] == "extended" and info["factory"] == first.index_info["factory"]
    assert info["rows_at_full_build"] == 3000 and grown.index.ntotal == 4000
    assert info["recall_at_10"] >= 0.95
    # From HNSW to IVF (crossing the threshold): built afresh.
    hnsw = write(tmp_path, 3, base[:1500], auto_threshold=100, ivf_threshold=2000)
    crossed = write(tmp_path, 4, base[:2500], auto_threshold=100, ivf_threshold=2000, base=hnsw)
    assert crossed.index_info["kind"] == "ivf" and crossed.index_info["built"] == "full"
    # Filtered search through the IVF index's selector.
    monkeypatch.setattr(snapshot_mod, "_EXACT_FILTER_ROWS", 100)
    allowed = np.flatnonzero(np.arange(len(base)) % 3 == 0)
    _, rows = grown.search(queries, 10, allowed)
    assert np.isin(rows, allowed).all()
    assert recall(rows, brute(base, queries, 10, allowed)) >= 0.9


# -- vectors that are not finite ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_vectors_are_never_written(tmp_path: Path, data, bad: float) -> None:
    base, _ = data
    vectors = base[:500].copy()
    vectors[321, 7] = bad
    with pytest.raises(InvalidArgumentError, match="row 321 holds NaN or infinite"):
        write(tmp_path, 1, vectors)
    assert not Snapshot.folder(tmp_path, 1).exists() and not list(tmp_path.iterdir())
    first = write(tmp_path, 1, base[:500])  # appended rows are checked too
    grown = np.vstack([base[:500], vectors[300:330]])
    with pytest.raises(InvalidArgumentError, match="row 521 holds"):
        write(tmp_path, 2, grown, base=first)
    assert not Snapshot.folder(tmp_path, 2).exists()


# -- snapshot files that cannot be read ----------------------------------------------------------


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x01 not a numpy file \xff" * 10)


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("vectors.npy", _zero, "No data left in file|empty"),
        ("vectors.npy", _truncate, "mmap length|larger|truncated|smaller"),
        ("vectors.npy", lambda p: np.save(p, np.zeros((10, DIM), np.int32)), "2-D float matrix"),
        ("chunk_ids.npy", _zero, ""),
        ("chunk_ids.npy", _garbage, ""),
        ("doc_seqs.npy", _truncate, ""),
        ("doc_seqs.npy", lambda p: np.save(p, np.zeros((3, 3))), "1-D integer array"),
        ("index.json", lambda p: p.write_text("{not json"), "not a JSON file"),
        ("index.json", lambda p: p.write_text("[1, 2, 3]"), '"kind"'),
        ("index.faiss", _truncate, ""),
        ("index.faiss", _zero, ""),
    ],
)
def test_unreadable_snapshot_file_is_a_format_error_naming_it(
    tmp_path: Path, data, name: str, damage, message: str
) -> None:
    base, _ = data
    write(tmp_path, 1, base[:1200], auto_threshold=1000)  # with an HNSW index.faiss
    path = Snapshot.folder(tmp_path, 1) / name
    damage(path)
    with pytest.raises(StoreFormatError, match=str(path).replace(".", r"\.")) as err:
        Snapshot.load(tmp_path, 1, DIM)
    assert "backup" in str(err.value) or "format version" in str(err.value)
    if message:
        import re

        assert re.search(message, str(err.value)), str(err.value)


def test_snapshot_of_other_dimensions_is_a_format_error(tmp_path: Path, data) -> None:
    base, _ = data
    write(tmp_path, 1, base[:50])
    with pytest.raises(
        StoreFormatError, match=r"does not match the store's manifest.*64 dimensions expected"
    ):
        Snapshot.load(tmp_path, 1, 64)


def test_store_with_an_empty_vectors_file_names_it(make_store) -> None:
    store = make_store("damaged")
    store.add([{"id": f"d{i}", "text": f"article number {i} about topic {i % 3}"} for i in range(6)])
    gen = store.info()["generation"]
    path = store.path / "snapshots" / f"{gen:010d}" / "vectors.npy"
    assert path.exists()
    store.close()
    path.write_bytes(b"")
    with pytest.raises(StoreFormatError, match=r"vectors\.npy is damaged"):
        again = semclust.Store.open(store.path, model=store.embedder, cache=False)
        again.search("topic", k=3)
