"""Benchmark of the core pipeline: indexing speed, query latency and retrieval quality.

Usage (from the project root)::

    python benchmarks/bench_search.py --data ../shared/data/bbc/bbc.jsonl.gz \
        --data ../shared/data/reuters/r8-test.jsonl.gz --data ../shared/data/scifact

Each data set runs in its own process (so peak RSS is its own). Labelled sets (BBC, R8) give
related-articles precision@10 by label for semclust's ``related`` (both methods) and, on the
same data in the same run, for the usual baseline that embeds each whole article (title and
text, truncated by the model) as one vector. SciFact gives nDCG@10 and recall@100 of
``search`` against its test judgements. The embedding cache is off, so every text is embedded.
Prints a table and writes JSON (default ``benchmarks/results/search.json``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def percentiles(xs: list[float]) -> dict[str, float]:
    arr = np.array(xs) * 1000
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
    }


def index_store(records: list[dict[str, Any]], folder: Path) -> tuple[Any, dict[str, Any]]:
    import semclust

    store = semclust.Store.open(folder, cache=False)
    store.embedder.embed(["warm up"])  # load the model outside the timing
    t0 = time.perf_counter()
    report = store.add(semclust.read(records))
    secs = time.perf_counter() - t0
    return store, {
        "articles": len(records),
        "chunks": report.chunks,
        "index_seconds": round(secs, 1),
        "articles_per_s": round(len(records) / secs, 2),
        "chunks_per_s": round(report.chunks / secs, 2),
    }


def latency(store: Any, queries: list[str], ids: list[str]) -> dict[str, Any]:
    s_times, r_times = [], []
    for q in queries:
        t = time.perf_counter()
        store.search(q, k=10)
        s_times.append(time.perf_counter() - t)
    for d in ids:
        t = time.perf_counter()
        store.related(d, k=10)
        r_times.append(time.perf_counter() - t)
    return {"search": percentiles(s_times), "related": percentiles(r_times)}


def labelled(path: Path, limit: int | None, workdir: Path) -> dict[str, Any]:
    records = load_jsonl(path)[:limit]
    for r in records:
        r.setdefault("title", "")
    label = {r["id"]: r["label"] for r in records}
    store, out = index_store(records, workdir / "store")
    rng = np.random.default_rng(0)
    sample = [records[i] for i in rng.choice(len(records), size=min(100, len(records)), replace=False)]
    queries = [r["title"] or " ".join(r["text"].split()[:12]) for r in sample]
    out["latency"] = latency(store, queries, [r["id"] for r in sample])
    for method in ("chunks", "centroid"):
        precs = []
        t0 = time.perf_counter()
        for r in records:
            hits = store.related(r["id"], k=10, method=method)
            precs.append(sum(label[h.doc_id] == r["label"] for h in hits) / 10)
        out[f"related_p@10_{method}"] = round(float(np.mean(precs)), 4)
        out[f"related_all_seconds_{method}"] = round(time.perf_counter() - t0, 1)
    # Baseline: one vector per whole article (title + text), truncated by the model.
    t0 = time.perf_counter()
    whole = store.embedder.embed([(r["title"] + "\n" + r["text"]).strip() for r in records])
    out["baseline_embed_seconds"] = round(time.perf_counter() - t0, 1)
    sims = whole @ whole.T
    np.fill_diagonal(sims, -np.inf)
    labels = np.array([r["label"] for r in records])
    top = np.argsort(-sims, axis=1)[:, :10]
    out["baseline_whole_article_p@10"] = round(float((labels[top] == labels[:, None]).mean()), 4)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def scifact(folder: Path, limit: int | None, workdir: Path) -> dict[str, Any]:
    corpus = load_jsonl(folder / "corpus.jsonl.gz")[:limit]
    records = [{"id": str(d["_id"]), "title": d.get("title", ""), "text": d["text"]} for d in corpus]
    queries = {str(q["_id"]): q["text"] for q in load_jsonl(folder / "queries.jsonl.gz")}
    qrels: dict[str, dict[str, int]] = {}
    ids = {r["id"] for r in records}
    for line in (folder / "qrels.tsv").read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        qid, did, score = parts
        if did in ids and int(score) > 0:
            qrels.setdefault(qid, {})[did] = int(score)
    store, out = index_store(records, workdir / "store")
    ndcgs, recalls, times = [], [], []
    for qid, rel in qrels.items():
        t = time.perf_counter()
        hits = store.search(queries[qid], k=100)
        times.append(time.perf_counter() - t)
        ranked = hits.ids
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:10]))
        ndcgs.append(dcg / ideal if ideal else 0.0)
        recalls.append(len(set(ranked) & set(rel)) / len(rel))
    out["queries"] = len(qrels)
    out["ndcg@10"] = round(float(np.mean(ndcgs)), 4)
    out["recall@100"] = round(float(np.mean(recalls)), 4)
    out["latency"] = {"search_k100": percentiles(times)}
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def worker(path: Path, limit: int | None, result_file: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="semclust-bench-") as tmp:
        res = scifact(path, limit, Path(tmp)) if path.is_dir() else labelled(path, limit, Path(tmp))
    result_file.write_text(json.dumps(res))


def print_table(results: dict[str, dict[str, Any]]) -> None:
    rows = [
        ("articles", "articles"),
        ("chunks", "chunks"),
        ("index articles/s", "articles_per_s"),
        ("index seconds", "index_seconds"),
        ("peak RSS MB", "peak_rss_mb"),
        ("search p50 ms", ("latency", "search", "p50_ms")),
        ("search p99 ms", ("latency", "search", "p99_ms")),
        ("related p50 ms", ("latency", "related", "p50_ms")),
        ("related p99 ms", ("latency", "related", "p99_ms")),
        ("related P@10 (chunks, default)", "related_p@10_chunks"),
        ("related P@10 (centroid)", "related_p@10_centroid"),
        ("baseline whole-article P@10", "baseline_whole_article_p@10"),
        ("search k=100 p50 ms", ("latency", "search_k100", "p50_ms")),
        ("nDCG@10", "ndcg@10"),
        ("recall@100", "recall@100"),
    ]
    names = list(results)
    width = max(len(r[0]) for r in rows) + 2
    print("".ljust(width) + "".join(n[:22].rjust(24) for n in names))
    for label, key in rows:
        vals = []
        for n in names:
            v: Any = results[n]
            for part in key if isinstance(key, tuple) else (key,):
                v = v.get(part) if isinstance(v, dict) else None
            vals.append("-" if v is None else str(v))
        if any(x != "-" for x in vals):
            print(label.ljust(width) + "".join(x.rjust(24) for x in vals))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", action="append", type=Path, help="a labelled .jsonl.gz, or the scifact folder"
    )
    parser.add_argument("--limit", type=int, help="use only the first N articles of each set")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "search.json")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.limit, args.result_file)
        return
    data = args.data or [ROOT.parent / "shared" / "data" / "bbc" / "bbc.jsonl.gz"]
    results: dict[str, dict[str, Any]] = {}
    for path in data:
        if not path.exists():
            sys.exit(f"bench_search: {path} not found (see ../shared/data/README.md)")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            result_file = Path(f.name)
        cmd = [sys.executable, __file__, "--worker", str(path), "--result-file", str(result_file)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print(f"running {path} ...", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        name = path.name.replace(".jsonl.gz", "")
        results[name] = json.loads(result_file.read_text())
        result_file.unlink()
    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "limit": args.limit,
    }
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
