"""Scale-out on Ray against the single-process build, on the same articles.

    .venv/bin/python benchmarks/bench_scale.py                       # 300 BBC articles, local Ray
    .venv/bin/python benchmarks/bench_scale.py --articles 2000 --workers 2
    .venv/bin/python benchmarks/bench_scale.py --million             # >= 1M chunks (hours on 2 cores)
    .venv/bin/python benchmarks/bench_scale.py --million --fake      # the whole build but the model
    .venv/bin/python benchmarks/bench_scale.py --chunks 100000 --fake --ivf-threshold 50000

Reports articles/s and chunks/s of ``Store.add(read(files))`` and of
``semclust.distributed.build`` (Ray start-up counted apart), the embedding throughput per actor,
the Ray overhead per article, the commit's stages, the index the automatic rule chose, the
store's size on disk, and peak memory: the driver's peak RSS, and the Ray workers' (sampled
once a second: the largest single worker and the largest sum over all of them; RSS counts the
pages of the shared object store that a worker touched). Both paths run with the embedding
cache off, so both embed everything.

``--fake`` uses the tests' hashed bag-of-words embedder (``tests/fake_embedder.py``) instead of
the model, at ``--dim`` dimensions (default 384, the real model's, so that the vector matrix
and the FAISS index have their real sizes) and a chunk budget of ``--max-tokens`` (default 254,
the real model's; the fake tokenizer counts words and punctuation, so it cuts about as many
chunks per article). What is left is the cost of reading, chunking, Ray, the shards, the
commit into SQLite, the index build and the related lists. The fake embedder itself is not free
(it hashes every word in Python): its cost is measured on a sample of the corpus's chunks and
reported as ``fake_embed_s_estimate``, so that ``non_embedding_s`` can be told apart.

``--million`` (or ``--chunks N``) builds a store of at least 1,000,000 (N) chunks from real
text: the corpus (BBC by default) repeated under new ids. In each copy after the first, a
seeded :data:`SWAP_SHARE` of the words (of 3 letters or more) is replaced by words drawn from
the corpus's vocabulary, and the text is prefixed with ``Copy 0000N.``: every copy is a new text
(the same text under a new id would be a duplicate and not indexed) with a new vector, about as
close to its original as two articles on one story, not a near-duplicate. (Copies that differed
by their prefix alone were near-duplicates, hundreds of nearly equal vectors per chunk: the
index's recall tuning climbed to efSearch 2048 on those ties and still measured 0.80, which no
archive shows.) The chunk count per copy stays about the first copy's, from which the copies
needed are worked out. Expect about ``chunks / (60 * cores)`` seconds of embedding with the
int8 model.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import semclust  # noqa: E402
from semclust.chunking import chunk_document  # noqa: E402
from semclust.distributed import build  # noqa: E402

#: Share of the words replaced in each copy after the first (see the module's docstring).
SWAP_SHARE = 0.5
MODEL: Any = None  # the --fake embedder, or None for the store's default model
FAKE = False


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


class WorkerMemory:
    """Samples the RSS of the Ray worker processes (``ray::...``) once a second."""

    def __init__(self) -> None:
        self.peak_one_mb = 0.0
        self.peak_sum_mb = 0.0
        self.peak_ray_mb = 0.0  # every Ray process: workers, raylet, GCS, plasma
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = os.getpid()
        while not self._stop.is_set():
            workers, ray_all = [], 0.0
            for p in psutil.process_iter(["pid", "cmdline", "memory_info"]):
                cmd = " ".join(p.info.get("cmdline") or [])
                mem = p.info.get("memory_info")
                if p.info["pid"] == me or mem is None:
                    continue
                rss = mem.rss / 2**20
                if cmd.startswith("ray::") or "default_worker.py" in cmd:
                    workers.append(rss)
                if "ray" in cmd and ("raylet" in cmd or "gcs_server" in cmd or cmd.startswith("ray::")
                                     or "default_worker.py" in cmd):
                    ray_all += rss
            if workers:
                self.peak_one_mb = max(self.peak_one_mb, max(workers))
                self.peak_sum_mb = max(self.peak_sum_mb, sum(workers))
            self.peak_ray_mb = max(self.peak_ray_mb, ray_all)
            self._stop.wait(1.0)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load_records(sources: list[Path], articles: int) -> list[dict[str, Any]]:
    """Up to ``articles`` records from the files in turn; with several files, each id is
    prefixed with its file's name (``r8-train:train-0001``) so that ids never collide.
    """
    out: list[dict[str, Any]] = []
    for src in sources:
        with gzip.open(src, "rt", encoding="utf-8") as fh:
            for line in fh:
                if len(out) >= articles:
                    return out
                r = json.loads(line)
                if "_id" in r and "id" not in r:  # BEIR layout (SciFact)
                    r["id"] = r.pop("_id")
                if not any(ch.isalnum() for ch in str(r.get("text", ""))):
                    continue
                if len(sources) > 1:
                    r["id"] = f"{src.name.split('.')[0]}:{r['id']}"
                out.append(r)
    return out


_WORD = re.compile(r"([A-Za-z]{3,})")


def vocabulary(records: list[dict[str, Any]]) -> list[str]:
    """The distinct words (3 letters or more) of the corpus, sorted."""
    return sorted({w for r in records for w in _WORD.findall(r["text"])})


def varied(text: str, copy: int, article: int, vocab: list[str]) -> str:
    """``text`` with a seeded :data:`SWAP_SHARE` of its words replaced from ``vocab``."""
    parts = _WORD.split(text)  # words at the odd positions
    rng = np.random.default_rng([copy, article])
    n = len(parts) // 2
    swap = np.flatnonzero(rng.random(n) < SWAP_SHARE)
    for i, w in zip(swap.tolist(), rng.integers(len(vocab), size=len(swap)).tolist()):
        parts[2 * i + 1] = vocab[w]
    return "".join(parts)


def write_parts(records: list[dict[str, Any]], out: Path, copies: int, per_file: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    rows: list[str] = []
    vocab = vocabulary(records) if copies > 1 else []

    def flush() -> None:
        path = out / f"part-{len(files):05d}.jsonl"
        path.write_text("".join(rows), encoding="utf-8")
        files.append(path)
        rows.clear()

    for c in range(copies):
        for a, r in enumerate(records):
            rec = dict(r) if c == 0 else {
                **r, "id": f"{r['id']}#{c}", "text": f"Copy {c:05d}. {varied(r['text'], c, a, vocab)}"
            }
            rows.append(json.dumps(rec) + "\n")
            if len(rows) >= per_file:
                flush()
    if rows:
        flush()
    return files


def first_copy_chunks(records: list[dict[str, Any]], tmp: Path) -> tuple[int, list[str]]:
    """Chunks of one copy of the corpus as a new store cuts them, and their embedded texts."""
    files = write_parts(records, tmp / "probe", 1, len(records) or 1)
    embedder = MODEL if MODEL is not None else semclust.get_embedder()
    texts: list[str] = []
    for doc in semclust.read(files):
        chunks = chunk_document(doc, embedder.tokenizer, max_tokens=embedder.max_tokens, overlap=1,
                                title_context=True, language="en")
        texts.extend(c.embed_text for c in chunks)
    shutil.rmtree(tmp / "probe", ignore_errors=True)
    return len(texts), texts


def fake_embed_seconds_per_chunk(texts: list[str], sample: int = 4000) -> float:
    """What the fake embedder itself costs per chunk on one core (timed on a sample)."""
    step = max(1, len(texts) // sample)
    picked = texts[::step][:sample]
    started = time.perf_counter()
    for i in range(0, len(picked), 256):
        MODEL.embed(picked[i : i + 256])
    return (time.perf_counter() - started) / max(1, len(picked))


def single_process(files: list[Path], store: Path) -> dict[str, Any]:
    started = time.perf_counter()
    st = semclust.Store.open(store, cache=False, model=MODEL)
    report = st.add(semclust.read(files))
    seconds = time.perf_counter() - started
    n, chunks = len(report.added), report.chunks
    st.close()
    return {"seconds": seconds, "articles": n, "chunks": chunks, "articles_per_s": n / seconds,
            "chunks_per_s": chunks / seconds, "embed_s": report.timings.get("embed", 0.0),
            "timings": {k: round(v, 2) for k, v in report.timings.items()}, "peak_rss_mb": peak_rss_mb()}


def index_summary(state: dict[str, Any]) -> dict[str, Any]:
    keys = ("kind", "factory", "params", "recall_at_10", "recall_measured", "rows", "threshold",
            "ivf_threshold", "built", "build_seconds")
    return {k: state.get(k) for k in keys}


def on_ray(files: list[Path], store: Path, workers: int | None, batch_size: int | None,
           store_options: dict[str, Any]) -> dict[str, Any]:
    import ray

    t0 = time.perf_counter()
    env = {"env_vars": {"PYTHONPATH": str(ROOT / "tests")}} if FAKE else None
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING", runtime_env=env)
    startup = time.perf_counter() - t0
    started = time.perf_counter()
    with WorkerMemory() as mem:
        report = build(files, store, cache=False, num_workers=workers, batch_size=batch_size, model=MODEL,
                       **store_options)
    seconds = time.perf_counter() - started
    ray.shutdown()
    pipeline_s = report.timings["ray"]
    commit_s = seconds - pipeline_s
    n, chunks = len(report.added), report.chunks
    with semclust.Store.open(store, model=MODEL, cache=False) as st:
        info = st.info()
    return {"seconds": seconds, "ray_start_s": startup, "pipeline_s": pipeline_s, "commit_s": commit_s,
            "articles": n, "chunks": chunks, "workers": report.workers, "shards": report.shards,
            "articles_per_s": n / seconds, "chunks_per_s": chunks / seconds,
            "embedded": report.embedded, "embedded_at_commit": report.embedded_at_commit,
            "chunks_per_s_per_actor": report.embedded / pipeline_s / max(1, report.workers),
            "commit_timings": {k: round(v, 2) for k, v in report.timings.items() if k != "ray"},
            "index": index_summary(info["index_state"]), "store_bytes_on_disk": info["bytes_on_disk"],
            "peak_rss_mb": peak_rss_mb(), "workers_peak_rss_mb": round(mem.peak_one_mb, 1),
            "workers_peak_rss_sum_mb": round(mem.peak_sum_mb, 1),
            "ray_processes_peak_rss_sum_mb": round(mem.peak_ray_mb, 1)}


def related_sample(store: Path, articles: int, k: int = 20, on_ray: bool = True) -> dict[str, Any]:
    """Time the related lists of a seeded sample of ``articles`` articles of a store built with
    ``related_k=0``, at the efSearch its index was tuned to and at the floor (384), and on Ray
    actors as the Ray build computes them; extrapolate to every article: what the lists would
    add to the commit.
    """
    import numpy as np

    from semclust.search.related import related_lists
    from semclust.vectors.tuning import MIN_EF_SEARCH, apply_params

    out: dict[str, Any] = {"sample": articles, "k": k}
    with semclust.Store.open(store, model=MODEL, cache=False) as st:
        snap = st._views.latest()  # the benchmark reads the store's snapshot directly
        seqs = snap.seqs()
        rng = np.random.default_rng(0)
        sample = sorted(rng.choice(len(seqs), min(articles, len(seqs)), replace=False).tolist())
        picked = [seqs[i] for i in sample]
        tuned = dict(snap.index_info.get("params") or {})
        settings = [("tuned", tuned)]
        if "efSearch" in tuned and tuned["efSearch"] != MIN_EF_SEARCH:
            settings.append(("floor", {"efSearch": MIN_EF_SEARCH}))
        for label, params in settings:
            if snap.index is not None and params:
                apply_params(snap.index, params)
            started = time.perf_counter()
            related_lists(snap, picked, k)
            per = (time.perf_counter() - started) / max(1, len(picked))
            out[label] = {"params": params, "ms_per_article": round(1000 * per, 2),
                          "estimate_all_s": round(per * len(seqs), 1)}
        out["articles_in_store"] = len(seqs)
        if on_ray:
            out["ray"] = ray_sample(store, snap, picked, k, len(seqs))
    return out


def ray_sample(store: Path, snap: Any, picked: list[int], k: int, n_all: int) -> dict[str, Any]:
    """The same sample's lists on Ray actors (one per CPU), as the Ray build computes them,
    at the tuned efSearch (the actors read it from the snapshot's index.json)."""
    import ray

    from semclust.distributed.related import ray_related_lists

    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        workers = int(ray.cluster_resources().get("CPU", 1))
        compute, pool = ray_related_lists(ray, store / "snapshots", int(snap.vectors.shape[1]), workers, 1.0)
        started = time.perf_counter()
        n = sum(len(block) for block in compute(snap, picked, k))
        per = (time.perf_counter() - started) / max(1, n)
        for actor in pool:
            ray.kill(actor)
    finally:
        ray.shutdown()
    return {"actors": workers, "ms_per_article": round(1000 * per, 2),
            "estimate_all_s": round(per * n_all, 1),
            "note": "includes each actor's loading of the snapshot and index"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", help="JSONL(.gz) corpora, used in turn (default: BBC)",
                        default=[str(ROOT.parent / "shared" / "data" / "bbc" / "bbc.jsonl.gz")])
    parser.add_argument("--articles", type=int, default=300, help="articles of the corpus used")
    parser.add_argument("--copies", type=int, default=1, help="copies of them (new ids, new texts)")
    parser.add_argument("--per-file", type=int, default=100, help="articles per input file")
    parser.add_argument("--workers", type=int, default=None, help="embedding actors (default: CPUs)")
    parser.add_argument("--batch-size", type=int, default=None, help="articles per shard")
    parser.add_argument("--million", action="store_true", help="build >= 1M chunks (Ray only)")
    parser.add_argument("--chunks", type=int, default=None, help="build >= this many chunks (Ray only)")
    parser.add_argument("--skip-single", action="store_true", help="only the Ray build")
    parser.add_argument("--fake", action="store_true", help="the tests' fake embedder: all but the model")
    parser.add_argument("--dim", type=int, default=384, help="the fake embedder's dimension (default 384)")
    parser.add_argument("--max-tokens", type=int, default=254, help="the fake embedder's chunk budget")
    parser.add_argument("--ivf-threshold", type=int, default=None, help="the new store's ivf_threshold")
    parser.add_argument("--related-k", type=int, default=None,
                        help="the new store's related_k; with 0, the lists are timed on a sample instead")
    parser.add_argument("--json", help="write the results to this file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    global FAKE, MODEL
    FAKE = args.fake
    if FAKE:
        sys.path.insert(0, str(ROOT / "tests"))
        from fake_embedder import FakeEmbedder

        MODEL = FakeEmbedder(dim=args.dim, max_tokens=args.max_tokens)
    sources = [Path(d) for d in args.data]
    missing = [str(src) for src in sources if not src.exists()]
    if missing:
        print(f"no data at {', '.join(missing)}; pass --data", file=sys.stderr)
        return 1
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tmp = Path(tempfile.mkdtemp(prefix="semclust-bench-scale-"))
    try:
        started = time.perf_counter()
        records = load_records(sources, args.articles)
        per_copy, texts = first_copy_chunks(records, tmp)
        target = 1_000_000 if args.million else args.chunks
        copies = max(args.copies, math.ceil(target / per_copy)) if target else args.copies
        files = write_parts(records, tmp / "in", copies, args.per_file)
        results: dict[str, Any] = {
            "articles": len(records) * copies, "base_articles": len(records), "copies": copies,
            "chunks_per_copy": per_copy, "files": len(files),
            "input_bytes": sum(f.stat().st_size for f in files), "cpus": os.cpu_count(), "fake": FAKE,
            "dim": args.dim if FAKE else None, "max_tokens": args.max_tokens if FAKE else None,
            "ivf_threshold": args.ivf_threshold, "load_at_start": os.getloadavg()[0],
            "prepare_s": time.perf_counter() - started,
        }
        print("inputs:", json.dumps(results), flush=True)
        if not args.skip_single and not target:
            results["single"] = single_process(files, tmp / "single.semclust")
            print("single:", json.dumps(results["single"], indent=1), flush=True)
        options: dict[str, Any] = {} if args.ivf_threshold is None else {"ivf_threshold": args.ivf_threshold}
        if args.related_k is not None:
            options["related_k"] = args.related_k
        results["ray"] = r = on_ray(files, tmp / "ray.semclust", args.workers, args.batch_size, options)
        if args.related_k == 0:
            r["related_sample"] = related_sample(tmp / "ray.semclust", 8192)
        results["load_at_end"] = os.getloadavg()[0]
        if FAKE:
            per_chunk = fake_embed_seconds_per_chunk(texts)
            r["fake_embed_s_per_chunk"] = per_chunk
            r["fake_embed_s_estimate"] = per_chunk * r["embedded"] / max(1, r["workers"])
            r["non_embedding_s"] = r["ray_start_s"] + r["seconds"] - r["fake_embed_s_estimate"]
        print("ray:", json.dumps(r, indent=1), flush=True)
        if "single" in results:
            s = results["single"]
            results["overhead_ms_per_article"] = 1000 * (r["seconds"] - s["seconds"]) / max(1, r["articles"])
            print(f"overhead per article: {results['overhead_ms_per_article']:.2f} ms "
                  f"(plus {r['ray_start_s']:.1f} s to start Ray)")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
