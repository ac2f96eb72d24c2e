"""Damaged and half-made stores: each case is a semclust error that names the file and what is
wrong, never a raw traceback, and never an empty store that the next write would overwrite."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_embedder import FakeEmbedder

import semclust
from semclust.errors import StoreError, StoreFormatError


def filled(path: Path, n: int = 4) -> semclust.Store:
    store = semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    store.add([{"id": f"a{i}", "text": f"article about topic{i} and more words{i}"} for i in range(n)])
    store.close()
    return store


def sql(path: Path, statement: str, *params) -> None:
    with sqlite3.connect(path / "store.sqlite") as db:
        db.execute(statement, params)


def edit_manifest(path: Path, change: Callable[[dict], object]) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


# -- 13.1: a lost or truncated catalog ------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "emptied", "truncated"])
def test_lost_catalog_refuses_to_open(tmp_path: Path, how: str) -> None:
    path = tmp_path / "s"
    filled(path, n=40)
    db = path / "store.sqlite"
    snapshot_before = sorted((path / "snapshots").rglob("*"))
    if how == "deleted":
        db.unlink()
    elif how == "emptied":
        db.write_bytes(b"")
    else:
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreFormatError, match=r"store\.sqlite"):
        semclust.Store.open(path, cache=False)
    assert sorted((path / "snapshots").rglob("*")) == snapshot_before  # nothing was overwritten


# -- 13.2: creation is crash-safe -------------------------------------------------------------

CREATE_AND_DIE = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[2])
import fake_embedder, semclust
from semclust.store import create
real = create.write_json_atomic
def write_json_atomic(*a, **k):  # the catalog exists, the manifest is being written
    os.kill(os.getpid(), signal.SIGKILL)
create.write_json_atomic = write_json_atomic
semclust.Store.open(sys.argv[1], model=fake_embedder.FakeEmbedder(), cache=False)
"""


def test_creation_killed_midway_leaves_no_half_store(tmp_path: Path) -> None:
    path = tmp_path / "new.semclust"
    proc = subprocess.run(
        [sys.executable, "-c", CREATE_AND_DIE, str(path), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not path.exists()  # built beside it, never renamed into place
    store = semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    store.add([{"id": "x", "text": "the store works after the crash"}])
    assert store.ids() == ["x"]
    assert [p.name for p in tmp_path.iterdir()] == ["new.semclust"]  # the leftover is cleared


def test_half_created_store_is_finished(tmp_path: Path) -> None:
    """A folder an older semclust left with a catalog and no manifest is finished, not refused."""
    from semclust.store.catalog import Catalog

    path = tmp_path / "half"
    path.mkdir()
    catalog = Catalog(path / "store.sqlite")
    catalog.create_schema()
    catalog.close()
    store = semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    store.add([{"id": "x", "text": "finished and usable"}])
    assert semclust.Store.open(path, cache=False).ids() == ["x"]


def test_catalog_with_articles_but_no_manifest_is_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "s"
    filled(path)
    shutil.rmtree(path / "snapshots")
    (path / "manifest.json").unlink()
    with pytest.raises(StoreFormatError, match=r"manifest\.json is missing"):
        semclust.Store.open(path, model=FakeEmbedder(), cache=False)
    assert (path / "store.sqlite").exists()


# -- 13.6: damaged files are errors naming the file ----------------------------------------

MANIFEST_DAMAGE = {
    "not utf-8": (lambda p: (p / "manifest.json").write_bytes(b'{"format_version": "\xff\xfe"}'), "UTF-8"),
    "a list": (lambda p: (p / "manifest.json").write_text("[1, 2, 3]"), "JSON list, not an object"),
    "model a string": (lambda p: edit_manifest(p, lambda m: m.update(model="x")), "'model' must be a JSON object"),
    "max_tokens text": (
        lambda p: edit_manifest(p, lambda m: m["chunking"].update(max_tokens="abc")), "chunking.max_tokens"
    ),
    "dimension missing": (lambda p: edit_manifest(p, lambda m: m["model"].pop("dimension")), "model.dimension"),
    "not json": (lambda p: (p / "manifest.json").write_text("{"), "not a readable semclust manifest"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_DAMAGE))
def test_damaged_manifest(tmp_path: Path, case: str) -> None:
    path = tmp_path / "s"
    filled(path)
    damage, message = MANIFEST_DAMAGE[case]
    damage(path)
    with pytest.raises(StoreFormatError, match=r"manifest\.json") as err:
        semclust.Store.open(path, cache=False)
    assert message in str(err.value)


def test_generation_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "s"
    filled(path)
    sql(path, "UPDATE state SET value = 'abc' WHERE key = 'generation'")
    with pytest.raises(StoreFormatError, match=r"store.sqlite: the state 'generation' is 'abc'"):
        semclust.Store.open(path, cache=False)


def test_metadata_not_json_fails_on_search(tmp_path: Path) -> None:
    path = tmp_path / "s"
    filled(path)
    sql(path, "UPDATE docs SET metadata = '{not json' WHERE doc_id = 'a1'")
    store = semclust.Store.open(path, cache=False)
    with pytest.raises(StoreFormatError, match=r"store.sqlite: article 'a1' has metadata that is not JSON"):
        store.search("article about topic1 and more words1", k=4)
    with pytest.raises(StoreFormatError, match="'a1'"):
        store.get("a1")


@pytest.mark.parametrize("other_size", [2, 9])
def test_snapshot_from_another_store(tmp_path: Path, other_size: int) -> None:
    path, other = tmp_path / "s", tmp_path / "other"
    filled(path, 4)
    filled(other, other_size)
    shutil.rmtree(path / "snapshots")
    shutil.copytree(other / "snapshots", path / "snapshots")
    with pytest.raises(StoreFormatError, match="snapshot"):
        store = semclust.Store.open(path, cache=False)
        store.search("article about topic", k=10)


def test_snapshot_of_same_size_from_another_store(tmp_path: Path) -> None:
    """Same row count, other article keys: found when the rows are turned into hits."""
    path, other = tmp_path / "s", tmp_path / "other"
    filled(path, 4)
    store = semclust.Store.open(other, model=FakeEmbedder(), cache=False)
    store.add([{"id": f"b{i}", "text": f"article about topic{i} and more words{i}"} for i in range(6)])
    store.delete(["b0", "b1"])  # 4 articles left, with keys 3..6
    shutil.rmtree(path / "snapshots")
    shutil.copytree(other / "snapshots", path / "snapshots")
    (path / "snapshots" / f"{store.generation:010d}").rename(path / "snapshots" / f"{1:010d}")
    reopened = semclust.Store.open(path, cache=False)
    with pytest.raises(StoreFormatError, match="does not hold"):
        reopened.search("article about topic", k=10)
    with pytest.raises(StoreFormatError, match="does not hold"):
        reopened.embeddings()


def test_related_row_pointing_at_a_missing_article(tmp_path: Path) -> None:
    path = tmp_path / "s"
    filled(path)
    sql(path, "UPDATE related SET other = 999 WHERE rank = 0")
    store = semclust.Store.open(path, cache=False)
    with pytest.raises(StoreFormatError, match=r"store\.sqlite does not hold"):
        store.related("a0", k=2)


def test_write_lock_is_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "s"
    filled(path)
    (path / "write.lock").unlink(missing_ok=True)
    (path / "write.lock").mkdir()
    store = semclust.Store.open(path, cache=False)
    with pytest.raises(StoreError, match=r"write.lock is a folder"):
        store.add([{"id": "x", "text": "new words"}])
    assert len(store) == 4


def test_store_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("x")
    with pytest.raises(StoreError, match="FILE is a file, not a folder"):
        semclust.Store.open(tmp_path / "FILE" / "sub", model=FakeEmbedder(), cache=False)
    with pytest.raises(StoreError, match="no semclust store"):
        semclust.Store.open(tmp_path / "FILE" / "sub", create=False)
    with pytest.raises(StoreError, match="not a store folder"):
        semclust.Store.open(tmp_path / "FILE", model=FakeEmbedder(), cache=False)
