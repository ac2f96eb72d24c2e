"""kill -9 of a writer at points inside its commit: after the snapshot rename, before the SQLite
commit, after the SQLite commit. The store must open at the previous or the new committed state,
consistent (counts, search, vectors matching rows), and the next write must not reuse the
killed writer's generation.

No product hook: the writer runs in a subprocess whose script wraps one function of the writer
or the catalog so that it kills its own process with SIGKILL right before or after the call.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_embedder import FakeEmbedder

import semclust

TESTS = Path(__file__).parent

WRITER = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[3])
import fake_embedder, semclust
from semclust.store import catalog, writer
from semclust.vectors.snapshot import Snapshot

def die():
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv[2]
if point == "after_snapshot_rename":      # the new snapshot folder is in place, nothing committed
    real_write = Snapshot.write.__func__
    def write(cls, *a, **k):
        real_write(cls, *a, **k)
        die()
    Snapshot.write = classmethod(write)
elif point == "before_sqlite_commit":     # rows, lists and generation written, COMMIT not run
    real_set = catalog.Catalog.set_generation
    def set_generation(self, *a, **k):
        real_set(self, *a, **k)
        die()
    catalog.Catalog.set_generation = set_generation
elif point == "after_sqlite_commit":      # committed, the old snapshot not yet removed
    real_commit = writer.commit
    def commit(*a, **k):
        out = real_commit(*a, **k)
        die()
    writer.commit = commit
else:
    raise SystemExit("unknown point " + point)
store = semclust.Store.open(sys.argv[1], model=fake_embedder.FakeEmbedder(), cache=False)
store.add([{"id": f"new-{j}", "text": f"second batch article beta{j} words " * 30} for j in range(7)])
print("not killed", flush=True)
"""


def first_batch(path: Path) -> semclust.Store:
    store = semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    store.add([{"id": f"old-{j}", "text": f"first batch article alpha{j} words " * 30} for j in range(5)])
    store.add([{"id": "copy", "text": "first batch article alpha1 words " * 30}])  # a duplicate
    return store


def assert_consistent(store: semclust.Store, ids: set[str]) -> None:
    assert set(store.ids()) == ids and len(store) == len(ids)
    info = store.info()
    vectors, chunk_ids, doc_ids = store.embeddings()
    assert len(chunk_ids) == info["chunks"] == len(set(chunk_ids.tolist()))
    assert set(doc_ids) == ids - {"copy"}  # the duplicate has no vectors of its own
    fake = FakeEmbedder()
    for doc_id in ids - {"copy"}:
        chunks = store.chunks(doc_id)
        rows = [i for i, d in enumerate(doc_ids) if d == doc_id]
        assert len(rows) == len(chunks) > 0
        np.testing.assert_allclose(
            np.asarray(vectors)[rows], fake.embed([c.embed_text for c in chunks]), atol=1e-6
        )
    for doc_id in sorted(ids - {"copy"}):
        hit = store.search(store.get(doc_id).text[:60], k=1)
        assert hit.ids == [doc_id]
        assert store.related(doc_id, k=2).ids
    assert store.duplicate_of("copy") == "old-1"


@pytest.mark.parametrize(
    ("point", "committed"),
    [("after_snapshot_rename", False), ("before_sqlite_commit", False), ("after_sqlite_commit", True)],
)
def test_kill_9_inside_the_commit(tmp_path: Path, point: str, committed: bool) -> None:
    path = tmp_path / "k.semclust"
    before = first_batch(path)
    gen_before = before.generation
    before.close()
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), point, str(TESTS)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -9, proc.stderr  # killed at the point, not finished or failed
    assert "not killed" not in proc.stdout and "Traceback" not in proc.stderr
    left = sorted(p.name for p in (path / "snapshots").iterdir())
    assert len(left) == 2  # the killed writer's snapshot and the one before it are both there

    store = semclust.Store.open(path, cache=False)
    old = {f"old-{j}" for j in range(5)} | {"copy"}
    new = {f"new-{j}" for j in range(7)}
    assert store.generation == (gen_before + 1 if committed else gen_before)
    assert_consistent(store, old | new if committed else old)

    # The next write never reuses a generation whose snapshot folder exists, and clears leftovers.
    highest_left = max(int(name.removesuffix(".tmp")) for name in left)
    store.add([{"id": "after", "text": "written after the crash, all new words"}])
    assert store.generation > highest_left
    assert [p.name for p in (path / "snapshots").iterdir()] == [f"{store.generation:010d}"]
    assert_consistent(store, (old | new if committed else old) | {"after"})
