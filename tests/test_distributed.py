"""Scale-out on Ray (semclust.distributed): same store as the single-process path, resumable,
themes assigned in parallel, errors as in the single-process path.

One local Ray (2 CPUs) serves the module; the workers find the test embedders through
PYTHONPATH. Most tests use the fake embedder (fast); one uses the real model on R8 articles.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SEEDS, data_dir
from fake_embedder import FakeEmbedder

import semclust
import semclust.search.related as related_module
import semclust.store.writer as writer_module
from semclust.distributed import assign_themes, build, build_folder
from semclust.errors import InputError, MissingDependencyError

TESTS = Path(__file__).resolve().parent
WORDS = {
    topic: words.split()
    for topic, words in [
        ("markets", "shares stocks bank rates inflation bond investors profit trading currency"),
        ("sport", "match goal season coach league striker cup players tournament referee"),
        ("science", "cells protein genome climate telescope physics quantum experiment species data"),
    ]
}


class LoggingEmbedder(FakeEmbedder):
    """Writes how many texts each call embeds to ``log`` (any process); raises once the log has
    ``fail_after`` calls (a build interrupted mid-way)."""

    def __init__(self, log: str, fail_after: int | None = None) -> None:
        super().__init__()
        self.log, self.fail_after = log, fail_after

    def embed(self, texts, *, progress=False):
        with open(self.log, "a") as fh:
            fh.write(f"{len(texts)}\n")
        if self.fail_after is not None and len(Path(self.log).read_text().split()) > self.fail_after:
            raise RuntimeError("interrupted on purpose")
        return super().embed(texts, progress=progress)


class CrashOnceEmbedder(FakeEmbedder):
    """Kills its worker process at its first call anywhere (a marker file records it)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def embed(self, texts, *, progress=False):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return super().embed(texts, progress=progress)
        os._exit(1)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'semclust[ray]')")
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}},
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    yield ray
    ray.shutdown()


def generated_corpus(root: Path, n: int = 90, seed: int = 0) -> Path:
    """A folder like a real archive: nested one-article files, a JSONL with repeated texts
    under new ids, Markdown with front matter, and the seed articles."""
    rng = random.Random(seed)
    folder = root / "archive"
    (folder / "2024" / "may").mkdir(parents=True)
    records = []
    for i in range(n):
        topic = list(WORDS)[i % 3]
        sentences = [
            " ".join(rng.choice(WORDS[topic]) for _ in range(rng.randint(6, 14))).capitalize() + "."
            for _ in range(rng.randint(2, 9))
        ]
        records.append({"id": f"r{i}", "title": f"{topic} report {i}", "text": " ".join(sentences),
                        "published": f"2024-05-{1 + i % 28:02d}", "section": topic})
    records.append({**records[3], "id": "copy-of-r3"})  # a duplicate text under a new id
    with open(folder / "2024" / "wire.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    for i, r in enumerate(records[:12]):
        (folder / "2024" / "may" / f"story-{i}.txt").write_text(f"{r['title']} (print)\n\n{r['text']}\n")
    (folder / "2024" / "may" / "note.md").write_text(
        "---\ntitle: A note\nid: note-1\nsource: desk\n---\nShares and bonds rallied. The bank held rates.\n"
    )
    for seed_file in SEEDS.glob("*.txt"):
        (folder / seed_file.name).write_text(seed_file.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def r8_records(n: int) -> list[dict]:
    base = data_dir()
    path = base / "reuters" / "r8-test.jsonl.gz" if base else None
    if path is None or not path.exists():
        pytest.skip("needs ../shared/data/reuters/r8-test.jsonl.gz (set SEMCLUST_DATA)")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh)]


def slice_texts(folder: Path, batch_size: int) -> int:
    """Distinct chunk texts per slice, summed over the slices of a build of ``folder``."""
    from semclust.distributed import inputs, pipeline

    chunking = {"max_tokens": 32, "overlap": 1, "title_context": True, "language": "en"}
    options = {"fields": None, "clean": True, "furniture": None, "skip_errors": False}
    total = 0
    for part in inputs.make_parts(inputs.expand_inputs([folder]), {}, max_files=batch_size):
        for row in pipeline.read_rows(pipeline.part_row(part, set()), options=options, batch_size=batch_size):
            row = pipeline.chunk_row(row, model=FakeEmbedder(), chunking=chunking)
            total += len(set(json.loads(row["texts"])))
    return total


def assert_same_store(a: semclust.Store, b: semclust.Store, queries: list[str]) -> None:
    assert a.ids() == b.ids()
    assert a.documents() == b.documents()
    for doc_id in a.ids():
        assert a.duplicate_of(doc_id) == b.duplicate_of(doc_id)
        assert [(c.start, c.end) for c in a.chunks(doc_id)] == [(c.start, c.end) for c in b.chunks(doc_id)]
    va, _, da = a.embeddings()
    vb, _, db = b.embeddings()
    assert da == db
    np.testing.assert_allclose(np.asarray(va), np.asarray(vb), atol=1e-6)
    for doc_id in a.ids():
        ra, rb = a.related(doc_id, k=10), b.related(doc_id, k=10)
        assert ra.ids == rb.ids, doc_id
        np.testing.assert_allclose([h.score for h in ra], [h.score for h in rb], atol=1e-5)
    for q in queries:
        assert a.search(q, k=10).ids == b.search(q, k=10).ids


def test_import_semclust_does_not_import_ray() -> None:
    code = (
        "import sys, semclust, semclust.distributed, semclust.cli.parser\n"
        "semclust.Store, semclust.read, semclust.get_embedder\n"
        "semclust.cli.parser.build_parser()\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=TESTS.parent)


def test_shard_chunks_follow_the_last_record_of_an_id(tmp_path: Path) -> None:
    # An id in two shards keeps its last record, and so its last record's chunks: a later
    # record from a shard without chunks.jsonl (an older version) is chunked at commit, even
    # when its text has the earlier one's length.
    from semclust.chunking import chunk_document, chunk_spans
    from semclust.distributed.shards import ShardArticles, doc_to_json, write_shard

    first = semclust.Document(id="x", title="T", text="Shares rose. Bonds fell. Rates held.")
    later = semclust.Document(id="x", title="T", text="Goals came. Fans sang. Coach left u.")
    assert len(first.text) == len(later.text)
    made = chunk_document(first, FakeEmbedder().tokenizer, max_tokens=6, overlap=0)
    assert len(made) > 1
    spans = [{"id": "x", "chars": len(first.text), **chunk_spans(made)}]
    vectors = np.zeros((len(made), 4), dtype=np.float32)
    texts = [c.embed_text for c in made]
    write_shard(tmp_path, "a-0-of-1", [doc_to_json(first)], [], texts, vectors, chunks=spans)
    write_shard(tmp_path, "b-0-of-1", [doc_to_json(later)], [], texts, vectors)
    articles = ShardArticles([tmp_path / "a-0-of-1"])
    assert [articles.chunks(d) for d in articles] == [made]
    articles = ShardArticles([tmp_path / "a-0-of-1", tmp_path / "b-0-of-1"])
    docs = list(articles)
    assert docs[-1] == later and articles.chunks(later) is None


def test_without_ray_build_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from semclust.distributed import build\n"
        "from semclust.errors import MissingDependencyError\n"
        "try:\n"
        f"    build([{str(SEEDS)!r}], {str(tmp_path / 's')!r})\n"
        "except MissingDependencyError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'semclust[ray]'" in out and len(out.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()  # failed before touching the store
    assert issubclass(MissingDependencyError, ImportError)


def test_build_equals_single_process(local_ray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = generated_corpus(tmp_path)
    (folder / "2024" / "broken.jsonl").write_text('{"id": "ok", "text": "Fine text here."}\n{not json\n')
    single = semclust.Store.open(tmp_path / "single", model=FakeEmbedder(), cache=False)
    expected = single.add(semclust.read(folder, skip_errors=True))

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("the related lists were computed on the driver, not on Ray")

    def not_chunked_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("the commit chunked an article again instead of using the workers' chunks")

    monkeypatch.setattr(related_module, "iter_related_lists", not_here)  # the driver's own way
    monkeypatch.setattr(writer_module, "chunk_document", not_chunked_here)
    report = build([folder], tmp_path / "ray", model=FakeEmbedder(), cache=False, batch_size=8,
                   skip_errors=True)
    assert report.shards > 5 and report.workers == 2
    assert report.embedded_at_commit == 0  # every vector came from the workers' shards
    assert sorted(report.added) == sorted(expected.added) and report.duplicates == expected.duplicates
    assert [str(s) for s in report.skipped] == [str(s) for s in expected.skipped] != []
    assert report.chunks == expected.chunks
    on_ray = semclust.Store.open(tmp_path / "ray", model=FakeEmbedder(), cache=False)
    assert on_ray.duplicate_of("copy-of-r3") == "r3"
    assert on_ray.get("note-1").source == "desk" and "2024/may/story-0" in on_ray
    monkeypatch.undo()
    assert_same_store(on_ray, single, ["bank rates and bond investors", "striker goal", "quantum telescope"])
    assert not build_folder(tmp_path / "ray").exists()  # shards removed after the commit


def test_build_resumes_without_embedding_finished_shards(local_ray, tmp_path: Path) -> None:
    folder = generated_corpus(tmp_path, n=60)
    log = tmp_path / "calls.log"
    target = tmp_path / "ray"
    with pytest.raises(Exception, match="interrupted on purpose"):
        build([folder], target, model=LoggingEmbedder(str(log), fail_after=4), cache=False,
              batch_size=6, num_workers=1)
    shards = [p for p in (build_folder(target) / "shards").iterdir() if not p.name.startswith(".")]
    assert 1 < len(shards) < 12
    done_texts = sum(len(np.load(p / "keys.npy")) for p in shards)
    (shards[0] / "chunks.jsonl").unlink()  # a shard of an older version: chunked at commit
    lines = (shards[1] / "chunks.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) > 1
    (shards[1] / "chunks.jsonl").write_text("".join(lines[::-1]))  # out of order: not trusted
    with semclust.Store.open(target, model=FakeEmbedder(), cache=False) as st:
        assert len(st) == 0 and st.generation == 0  # never half-committed
    log.write_text("")
    report = build([folder], target, model=LoggingEmbedder(str(log)), cache=False, batch_size=6)
    assert report.shards_reused == len(shards) and report.shards > 0
    calls = [int(x) for x in log.read_text().split()]
    assert len(calls) == report.shards  # one call per unfinished slice, none for finished ones
    # The finished shards' texts and what the rerun embedded are, together, exactly the texts
    # of every slice (counted here with the stages' own functions, outside Ray).
    assert sum(calls) + done_texts == slice_texts(folder, batch_size=6)
    assert report.embedded == sum(calls) and done_texts > 0
    single = semclust.Store.open(tmp_path / "single", model=FakeEmbedder(), cache=False)
    single.add(semclust.read(folder))
    on_ray = semclust.Store.open(target, model=FakeEmbedder(), cache=False)
    assert_same_store(on_ray, single, ["goal season"])


def test_dead_worker_is_retried(local_ray, tmp_path: Path) -> None:
    folder = generated_corpus(tmp_path, n=30)
    marker = tmp_path / "crashed"
    report = build([folder], tmp_path / "ray", model=CrashOnceEmbedder(str(marker)), cache=False, batch_size=10,
                   ivf_threshold=123_456)
    assert marker.exists()  # a worker died ...
    single = semclust.Store.open(tmp_path / "single", model=FakeEmbedder(), cache=False)
    single.add(semclust.read(folder))
    assert report.chunks == len(single.embeddings()[1])  # ... and its slice was done again
    on_ray = semclust.Store.open(tmp_path / "ray", model=FakeEmbedder(), cache=False)
    assert on_ray.manifest["index"]["ivf_threshold"] == 123_456  # a store option reaches the new store
    assert_same_store(on_ray, single, [])


def test_bad_input_file_is_reported_as_in_single_process(local_ray, tmp_path: Path) -> None:
    folder = generated_corpus(tmp_path, n=20)
    (folder / "2024" / "bad.jsonl").write_text('{"id": "a", "text": "Fine."}\n{"id": "b", "text": 3.5j}\n')
    single = semclust.Store.open(tmp_path / "single", model=FakeEmbedder(), cache=False)
    with pytest.raises(InputError) as expected:
        single.add(semclust.read(folder))
    with pytest.raises(InputError) as got:
        build([folder], tmp_path / "ray", model=FakeEmbedder(), cache=False, batch_size=10)
    assert type(got.value) is type(expected.value)
    assert str(got.value) == str(expected.value) and "bad.jsonl, line 2" in str(got.value)
    with pytest.raises(InputError, match="no such file or folder"):
        build([tmp_path / "missing"], tmp_path / "ray", model=FakeEmbedder(), cache=False)
    with semclust.Store.open(tmp_path / "ray", model=FakeEmbedder(), cache=False) as st:
        assert len(st) == 0


@pytest.mark.integration
@pytest.mark.data
def test_r8_with_the_real_model_equals_single_process(local_ray, tmp_path: Path) -> None:
    records = r8_records(150)
    inputs = []
    for i in range(3):  # three files, so several read tasks
        path = tmp_path / f"r8-{i}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records[i * 50 : (i + 1) * 50]))
        inputs.append(path)
    single = semclust.Store.open(tmp_path / "single", cache=False)
    single.add(semclust.read(inputs))
    report = build(inputs, tmp_path / "ray", cache=False, batch_size=25)
    assert report.embedded > 0 and report.embedded_at_commit == 0 and len(report.added) == len(single)
    on_ray = semclust.Store.open(tmp_path / "ray", cache=False)
    assert on_ray.manifest["model"] == single.manifest["model"]
    assert_same_store(on_ray, single, ["oil prices fall", "bank interest rates", "grain exports"])


def test_theme_assignment_on_ray_equals_single_process(local_ray, tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="themes need the themes extra")
    folder = generated_corpus(tmp_path, n=240)
    store = semclust.Store.open(tmp_path / "s", model=FakeEmbedder(), cache=False)
    store.add(semclust.read(folder))
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    themes = store.themes(  # a sample fit (PCA and k-means stand in for UMAP and HDBSCAN: fast)
        small_corpus=50, max_fit_articles=120, coords=False,
        umap_model=PCA(n_components=5, random_state=0), hdbscan_model=KMeans(3, n_init=3, random_state=0),
    )
    assert themes.params["n_fit_articles_"] == 120
    vectors, _, doc_ids = store.embeddings()
    ids, got = assign_themes(vectors, doc_ids, themes, articles_per_task=64)  # 4 tasks
    assert ids == themes.article_ids and len(ids) > 200
    from semclust.themes.assign import assign, group_rows, unit_rows

    _, rows = group_rows(doc_ids, len(vectors))
    p = themes.params
    want = assign(  # the single-process assignment (what Themes.predict runs)
        unit_rows(vectors), rows, len(ids), themes.centroids, themes.thresholds, themes.quantiles,
        themes.leaf_theme, level=p["level"], assign_outliers=p["assign_outliers"], temperature=p["temperature"],
        votes=themes.votes,
    )
    np.testing.assert_array_equal(got.main, themes.assignment.main)  # and the fit's own
    for name in ("main", "similarity", "confidence", "strength", "outlier", "weight_article",
                 "weight_theme", "weight_value"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    predicted = themes.predict(vectors, doc_ids)
    assert [p.theme_id for p in predicted] == got.main.tolist()


@pytest.mark.integration
def test_cli_index_and_themes_with_ray(local_ray, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from semclust.cli import main

    store = tmp_path / "seeds.semclust"
    assert main(["index", str(SEEDS), "--store", str(store), "--ray", "--json", "--skip-errors"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["added"]) == sorted(p.stem for p in SEEDS.glob("*.txt"))
    assert out["ray"]["shards"] == 1 and out["ray"]["embedded_at_commit"] == 0
    with semclust.Store.open(store) as st:
        assert len(st) == 2 and len(st.related(st.ids()[0], k=1)) == 1
    assert main(["index", str(tmp_path / "nothing-here"), "--store", str(store), "--ray"]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    if importlib.util.find_spec("sklearn") is not None:
        assert main(["themes", "--store", str(store), "--ray", "--json", "--articles"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert sorted(a["doc_id"] for a in out["articles"]) == sorted(p.stem for p in SEEDS.glob("*.txt"))


DRIVER = """
import os, sys
sys.path.insert(0, {tests!r})
import ray
from fake_embedder import FakeEmbedder
from semclust.distributed import build

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
         runtime_env={{"env_vars": {{"PYTHONPATH": {tests!r}}}}})
build([{folder!r}], {target!r}, model=FakeEmbedder(delay={delay}), cache=False, batch_size={batch})
print("finished")
"""


def finished_shard_dirs(target: Path) -> list[Path]:
    shards = build_folder(target) / "shards"
    return [p for p in shards.iterdir() if not p.name.startswith(".")] if shards.is_dir() else []


def kill_all(procs: list) -> None:
    """SIGKILL these processes (the build's driver and what it started) and wait until gone."""
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    _, alive = psutil.wait_procs(procs, timeout=30)
    assert not alive, f"processes left running: {alive}"


def test_build_resumes_after_the_driver_is_killed(local_ray, tmp_path: Path) -> None:
    """``kill -9`` of the driver mid-build: the store stays at its last committed state (empty),
    and the next build reuses the finished shards and embeds only the rest."""
    psutil = pytest.importorskip("psutil")
    folder = generated_corpus(tmp_path, n=300)
    target = tmp_path / "ray"
    batch = 10
    code = DRIVER.format(tests=str(TESTS), folder=str(folder), target=str(target), delay=0.4, batch=batch)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray
    started: list = []
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen([sys.executable, "-c", code], cwd=TESTS.parent, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc = psutil.Process(driver.pid)
            deadline = time.monotonic() + 90
            while not finished_shard_dirs(target):
                assert driver.poll() is None, (tmp_path / "driver.log").read_text()
                assert time.monotonic() < deadline, "no shard written in 90 s"
                started = [proc, *proc.children(recursive=True)]  # its local Ray: GCS, raylet, workers
                time.sleep(0.05)
            started = [proc, *proc.children(recursive=True)]
            os.kill(driver.pid, signal.SIGKILL)  # the driver dies mid-build ...
            driver.wait(timeout=30)
            # ... and the Ray it started goes with it (Ray's fate sharing); anything left is
            # killed here, so that no worker writes a shard after this point.
            _, alive = psutil.wait_procs(started[1:], timeout=5)
            kill_all(alive)
        finally:
            kill_all([p for p in started if p.is_running()])
    assert "finished" not in (tmp_path / "driver.log").read_text()
    done = finished_shard_dirs(target)
    total = slice_texts(folder, batch_size=batch)
    done_texts = sum(len(np.load(p / "keys.npy")) for p in done)
    assert 0 < done_texts < total  # killed mid-way: some shards, not all
    with semclust.Store.open(target, model=FakeEmbedder(), cache=False) as st:
        assert len(st) == 0 and st.generation == 0  # never half-committed
    calls_log = tmp_path / "calls.log"
    report = build([folder], target, model=LoggingEmbedder(str(calls_log)), cache=False, batch_size=batch)
    calls = [int(x) for x in calls_log.read_text().split()]
    assert report.shards_reused == len(done) and report.shards == len(calls) > 0
    assert sum(calls) + done_texts == total  # the finished shards' texts were not embedded again
    assert report.embedded == sum(calls) and report.embedded_at_commit == 0
    single = semclust.Store.open(tmp_path / "single", model=FakeEmbedder(), cache=False)
    expected = single.add(semclust.read(folder))
    assert report.chunks == expected.chunks and sorted(report.added) == sorted(expected.added)
    on_ray = semclust.Store.open(target, model=FakeEmbedder(), cache=False)
    assert_same_store(on_ray, single, ["bank rates and bond investors", "striker goal"])
    assert not build_folder(target).exists()
