"""Scale-out on Ray against the single-process build, on the same articles.

    .venv/bin/python benchmarks/bench_scale.py                       # 300 BBC articles, local Ray
    .venv/bin/python benchmarks/bench_scale.py --articles 2000 --workers 2
    .venv/bin/python benchmarks/bench_scale.py --million             # >= 1M chunks (hours on 2 cores)

Reports articles/s and chunks/s of ``Store.add(read(files))`` and of
``semclust.distributed.build`` (Ray start-up counted apart), the embedding throughput per actor,
the Ray overhead per article, the commit's time, and peak memory (driver RSS; for Ray also the
workers'). Both paths run with the embedding cache off, so both embed everything.

``--fake`` uses the tests' hashed bag-of-words embedder instead of the model: what is left is
the cost of reading, chunking, Ray and the commit (the overhead per article).

``--million`` builds a store of at least 1,000,000 chunks from real text: the corpus (BBC by
default) repeated under new ids, each copy's text prefixed with ``Copy N.`` so that the copies
are new texts (the same text under a new id would be a duplicate and not indexed). Expect about
``chunks / (125 * cores)`` seconds of embedding with the int8 model.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import semclust  # noqa: E402
from semclust.distributed import build  # noqa: E402


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def write_parts(src: Path, out: Path, articles: int, copies: int, per_file: int) -> list[Path]:
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(articles), fh)]
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    rows: list[str] = []

    def flush() -> None:
        path = out / f"part-{len(files):05d}.jsonl"
        path.write_text("".join(rows), encoding="utf-8")
        files.append(path)
        rows.clear()

    for c in range(copies):
        for r in records:
            rec = dict(r) if c == 0 else {**r, "id": f"{r['id']}#{c}", "text": f"Copy {c}. {r['text']}"}
            rows.append(json.dumps(rec) + "\n")
            if len(rows) >= per_file:
                flush()
    if rows:
        flush()
    return files


def fake_model() -> object | None:
    """The tests' hashed bag-of-words embedder (``--fake``): measures everything but the model."""
    if not FAKE:
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_embedder import FakeEmbedder

    return FakeEmbedder()


FAKE = False


def single_process(files: list[Path], store: Path) -> dict[str, float]:
    started = time.perf_counter()
    st = semclust.Store.open(store, cache=False, model=fake_model())
    report = st.add(semclust.read(files))
    seconds = time.perf_counter() - started
    n, chunks = len(report.added), report.chunks
    st.close()
    return {"seconds": seconds, "articles": n, "chunks": chunks, "articles_per_s": n / seconds,
            "chunks_per_s": chunks / seconds, "embed_s": report.timings.get("embed", 0.0),
            "timings": {k: round(v, 2) for k, v in report.timings.items()}, "peak_rss_mb": peak_rss_mb()}


def on_ray(files: list[Path], store: Path, workers: int | None, batch_size: int | None) -> dict[str, float]:
    import ray

    t0 = time.perf_counter()
    env = {"env_vars": {"PYTHONPATH": str(ROOT / "tests")}} if FAKE else None
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING", runtime_env=env)
    startup = time.perf_counter() - t0
    started = time.perf_counter()
    report = build(files, store, cache=False, num_workers=workers, batch_size=batch_size, model=fake_model())
    seconds = time.perf_counter() - started
    ray.shutdown()
    pipeline_s = report.timings["ray"]
    commit_s = seconds - pipeline_s
    n, chunks = len(report.added), report.chunks
    return {"seconds": seconds, "ray_start_s": startup, "pipeline_s": pipeline_s, "commit_s": commit_s,
            "articles": n, "chunks": chunks, "workers": report.workers, "shards": report.shards,
            "articles_per_s": n / seconds, "chunks_per_s": chunks / seconds,
            "embedded": report.embedded,
            "chunks_per_s_per_actor": report.embedded / pipeline_s / max(1, report.workers),
            "commit_timings": {k: round(v, 2) for k, v in report.timings.items() if k != "ray"},
            "peak_rss_mb": peak_rss_mb(), "peak_rss_children_mb": peak_rss_mb(resource.RUSAGE_CHILDREN)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bbc" / "bbc.jsonl.gz"))
    parser.add_argument("--articles", type=int, default=300, help="articles of the corpus used")
    parser.add_argument("--copies", type=int, default=1, help="copies of them (new ids, new texts)")
    parser.add_argument("--per-file", type=int, default=100, help="articles per input file")
    parser.add_argument("--workers", type=int, default=None, help="embedding actors (default: CPUs)")
    parser.add_argument("--batch-size", type=int, default=None, help="articles per shard")
    parser.add_argument("--million", action="store_true", help="build >= 1M chunks (Ray only; hours)")
    parser.add_argument("--skip-single", action="store_true", help="only the Ray build")
    parser.add_argument("--fake", action="store_true", help="the tests' fake embedder: Ray's overhead alone")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    global FAKE
    FAKE = args.fake
    src = Path(args.data)
    if not src.exists():
        print(f"no data at {src}; pass --data", file=sys.stderr)
        return 1
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tmp = Path(tempfile.mkdtemp(prefix="semclust-bench-scale-"))
    try:
        copies = args.copies
        if args.million:  # about 2.4 chunks per BBC article with the bundled model
            copies = max(copies, -(-1_000_000 // int(2.4 * args.articles)))
        files = write_parts(src, tmp / "in", args.articles, copies, args.per_file)
        results: dict[str, object] = {"articles": args.articles * copies, "files": len(files),
                                      "cpus": os.cpu_count(), "fake": FAKE, "load": os.getloadavg()[0]}
        if not args.skip_single and not args.million:
            results["single"] = single_process(files, tmp / "single.semclust")
            print("single:", json.dumps(results["single"], indent=1), flush=True)
        results["ray"] = on_ray(files, tmp / "ray.semclust", args.workers, args.batch_size)
        print("ray:", json.dumps(results["ray"], indent=1), flush=True)
        if "single" in results:
            s, r = results["single"], results["ray"]
            assert isinstance(s, dict) and isinstance(r, dict)
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
