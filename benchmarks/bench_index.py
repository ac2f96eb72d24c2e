"""Benchmark of the vector index at 100k and 1M chunks: exact, HNSW, HNSW+SQ8, IVF-SQ8, IVF-PQ, ``auto``.

Usage (from the project root; about 20 minutes on 2 cores, 7 GB of disk under ``--work``)::

    flock /tmp/semclust-bench.lock .venv/bin/python benchmarks/bench_index.py --sizes 100000,1000000
    .venv/bin/python benchmarks/bench_index.py --quick          # 20k chunks, a minute
    .venv/bin/python benchmarks/bench_index.py --sizes 200000 --configs exact,auto,auto-ivf

Vectors. There is no real 1M-chunk corpus here, so the matrices are **synthetic, made from
real chunk vectors**: the 7,907 all-MiniLM-L6-v2 chunk vectors of the BBC and Reuters R8
benchmark stores (``benchmarks/results/stores/{bbc,reuters}.semclust``, built by
``bench_themes.py``; the ``--data`` sets are what those stores hold). 200 real vectors are held
out as query sources. Each base row is a real vector moved a random fraction ``U(0, 0.5)`` of the
way towards one of its 10 nearest real neighbours, plus Gaussian jitter (sigma 0.01 per
dimension), renormalised; the queries are the held-out vectors with the same jitter (5 per
source, 1,000 queries), so no query is in the base. Sigma was calibrated so that a random
real-sized subsample of the synthetic base gives the queries a nearest-neighbour profile like
the real one (median 1st/10th neighbour cosine printed below). Pure isotropic jitter of tiled
copies (``--generator jitter``) is also available: it turns each real vector into a blob of
near-identical copies whose top-10 order is decided by noise, which no approximate index can
recover (the issue's "random vectors are useless" effect), so it is not the default.

Configurations (``--configs``): ``exact``, search over the memory-mapped matrix (``"Flat"``);
``auto`` (here HNSW32+SQ8 with tuned ``efSearch`` and exact re-ranking); ``auto-ivf``, the index
``"auto"`` builds above ``IVF_THRESHOLD`` (lowered to the benchmark's size: ``IVF<nlist>,SQ8``
trained on a seeded sample, ``nprobe`` tuned from its floor, exact re-ranking), with an
``nprobe`` sweep for both kinds of queries; ``hnsw-flat``, HNSW32 with float32 storage; and
``ivf-pq``, IVF-PQ with exact re-ranking of 10x candidates (``IVFn,PQ96x4fs``: 4-bit fast-scan codes; 8-bit
``PQ48`` took 92 s to *train* on 20k rows on one core here, too slow for this run), each
through the ``Snapshot`` API with the library's tuning.

At 200k chunks (2 cores shared with other work, so latencies are rough): exact 297 MB resident
(the matrix); ``auto`` (HNSW32,SQ8, efSearch 384) 626 MB of index per million chunks, recall@10
0.996 on held-out-article queries; ``auto-ivf`` (IVF2048,SQ4, nprobe 32 = its floor) 206 MB per
million, recall@10 0.983 (0.821 without re-ranking); IVF2048,SQ8 389 MB per million, 0.988.

Measured per configuration, each in fresh processes: build time (``Snapshot.write``: index
build, ``efSearch``/``nprobe`` tuning and writing the files) and its peak RSS (which includes
the float32 input matrix held in memory); then in a new process: open time (``Snapshot.load``,
warm page cache: the files were just written; dropping the cache needs root and would disturb
other work on the machine), resident memory after opening and after the queries (RSS growth of
the process, split into anonymous and file-backed pages: memory-mapped vectors and codes),
p50/p99 latency of single-query ``Snapshot.search(q, 10)`` calls, and recall@10 against exact
search. Also: HNSW32+SQ8 without re-ranking (raw FAISS at the tuned ``efSearch``), the ``auto``
and exact snapshots with a float16 ``vectors.npy``, filtered search through ``auto``, and exact
search latency by rows (the basis of ``AUTO_THRESHOLD``). Prints tables and writes JSON
(default ``benchmarks/results/index.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
HELD_OUT = 200
JITTERS_PER_QUERY = 5
IN_DIST_QUERIES = 500
SWEEP = (16, 32, 64, 128, 192, 256, 384, 512)
NPROBE_SWEEP = (4, 8, 16, 32, 64, 128, 256)
SIGMA_MIX = 0.01
REAL_NN_MEDIAN = 0.79  # median cosine of a real chunk vector to its nearest other real one


# -- data ------------------------------------------------------------------------------------


def real_vectors(stores: Path) -> np.ndarray:
    parts = []
    for name in ("bbc", "reuters"):
        snaps = sorted((stores / f"{name}.semclust" / "snapshots").glob("*/vectors.npy"))
        if not snaps:
            sys.exit(
                f"no chunk vectors under {stores / (name + '.semclust')}; build the benchmark stores "
                "first: python benchmarks/bench_themes.py"
            )
        parts.append(np.load(snaps[-1]).astype(np.float32))
    return np.vstack(parts)


def generate(real: np.ndarray, n: int, folder: Path, generator: str) -> dict[str, Any]:
    """Write ``base.npy`` (n rows) and ``queries.npy`` under ``folder``; return the calibration."""
    import faiss

    rng = np.random.default_rng(0)
    perm = rng.permutation(len(real))
    held, base_src = real[perm[:HELD_OUT]], real[perm[HELD_OUT:]]
    sims = base_src @ base_src.T
    np.fill_diagonal(sims, -2)
    neighbours = np.argsort(-sims, axis=1)[:, :10]
    del sims
    sigma = SIGMA_MIX if generator == "mix" else float(np.sqrt((1 / REAL_NN_MEDIAN - 1) / DIM))
    folder.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(folder / "base.npy", mode="w+", dtype=np.float32, shape=(n, DIM))
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        src = np.arange(a, b) % len(base_src)
        x = base_src[src].copy()
        if generator == "mix":
            j = neighbours[src, rng.integers(0, 10, len(src))]
            x += rng.uniform(0, 0.5, (len(src), 1)).astype(np.float32) * (base_src[j] - x)
        x += sigma * rng.standard_normal(x.shape, dtype=np.float32)
        out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    out.flush()
    qrng = np.random.default_rng(1)
    q = np.repeat(held, JITTERS_PER_QUERY, axis=0)
    q = q + sigma * qrng.standard_normal(q.shape, dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    np.save(folder / "queries.npy", q.astype(np.float32))
    # In-distribution queries: new rows made like the base rows (fresh draws, not in the base).
    src = np.random.default_rng(2).integers(0, len(base_src), IN_DIST_QUERIES)
    x = base_src[src].copy()
    if generator == "mix":
        j = neighbours[src, qrng.integers(0, 10, len(src))]
        x += qrng.uniform(0, 0.5, (len(src), 1)).astype(np.float32) * (base_src[j] - x)
    x += sigma * qrng.standard_normal(x.shape, dtype=np.float32)
    np.save(folder / "queries_indist.npy", (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32))
    # Nearest-neighbour profile: real held-out -> real base, and synthetic queries -> a
    # real-sized random subsample of the synthetic base.
    d_real, _ = faiss.knn(held, base_src, 10, metric=faiss.METRIC_INNER_PRODUCT)
    sub = np.sort(rng.choice(n, min(n, len(base_src)), replace=False))
    d_syn, _ = faiss.knn(q[:HELD_OUT], np.ascontiguousarray(out[sub]), 10, metric=faiss.METRIC_INNER_PRODUCT)
    return {
        "generator": generator,
        "sigma": round(sigma, 4),
        "real_vectors": len(real),
        "real_nn_cosine_median_1st_10th": [round(float(np.median(d_real[:, i])), 3) for i in (0, 9)],
        "synthetic_subsample_nn_cosine_median_1st_10th": [
            round(float(np.median(d_syn[:, i])), 3) for i in (0, 9)
        ],
    }


def to_float16(src: Path, dst: Path) -> None:
    """A copy of snapshot folder ``src`` whose vectors.npy is float16 (other files hard-linked)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.name != "vectors.npy":
            os.link(f, dst / f.name)
    vec = np.load(src / "vectors.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(dst / "vectors.npy", mode="w+", dtype=np.float16, shape=vec.shape)
    for a in range(0, len(vec), 100_000):
        out[a : a + 100_000] = vec[a : a + 100_000]
    out.flush()


# -- measurements in child processes ---------------------------------------------------------


def rss_parts() -> dict[str, float]:
    """Resident memory of this process in MB: total, anonymous, file-backed."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss": fields["VmRSS"], "anon": fields["RssAnon"], "file": fields["RssFile"] + fields["RssShmem"]}


def child_build(args: dict[str, Any]) -> dict[str, Any]:
    from semclust.vectors import Snapshot

    vectors = np.load(args["base"])  # in memory, as the store holds a commit's matrix
    n = len(vectors)
    t0 = time.perf_counter()
    Snapshot.write(
        Path(args["root"]),
        1,
        vectors,
        np.arange(1, n + 1, dtype=np.int64),
        np.arange(n, dtype=np.int64) // 4,  # four chunks per article
        args["factory"],
        ivf_threshold=args.get("ivf_threshold"),
    )
    build_s = time.perf_counter() - t0
    folder = Snapshot.folder(Path(args["root"]), 1)
    info = json.loads((folder / "index.json").read_text())
    index_file = folder / "index.faiss"
    return {
        "build_s": round(build_s, 2),
        "build_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "index_mb": round(index_file.stat().st_size / 2**20, 1) if index_file.exists() else 0.0,
        "vectors_mb": round((folder / "vectors.npy").stat().st_size / 2**20, 1),
        "index_info": info,
    }


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))


def timed(search: Any, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    lat, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search(q[None]))
        lat.append(time.perf_counter() - t)
    return lat, np.array(found)


def ms(lat: list[float], pct: float) -> float:
    return round(float(np.percentile(lat, pct)) * 1000, 3)


def child_query(args: dict[str, Any]) -> dict[str, Any]:
    from semclust.vectors import Snapshot, exact_search
    from semclust.vectors.tuning import apply_params

    queries = np.load(args["queries"])
    truth = np.load(args["truth"])
    before = rss_parts()
    t0 = time.perf_counter()
    snap = Snapshot.load(Path(args["root"]), 1, DIM)
    open_s = time.perf_counter() - t0
    opened = rss_parts()
    n_lat = min(len(queries), int(args["latency_queries"]))

    def one(q: np.ndarray) -> np.ndarray:
        if args.get("raw"):  # the FAISS index alone: no re-ranking
            return np.asarray(snap.index.search(q, 10)[1][0])
        return snap.search(q, 10)[1][0]

    timed(one, queries[:10])  # warm-up
    lat, found = timed(one, queries[:n_lat])
    after = rss_parts()
    out: dict[str, Any] = {
        "open_s": round(open_s, 3),
        "rss_open_mb": round(opened["rss"] - before["rss"]),
        "rss_mb": round(after["rss"] - before["rss"]),
        "rss_anon_mb": round(after["anon"] - before["anon"]),
        "rss_file_mb": round(after["file"] - before["file"]),
        "p50_ms": ms(lat, 50),
        "p99_ms": ms(lat, 99),
        "recall_at_10": round(recall_at_10(found, truth), 4),
        "queries": n_lat,
        "vectors_dtype": str(snap.vectors.dtype),
    }
    if snap.index is not None:  # exact search finds the exact top-10 by construction
        q_in, t_in = np.load(args["queries_indist"]), np.load(args["truth_indist"])
        out["recall_at_10_indist"] = round(recall_at_10(timed(one, q_in)[1], t_in), 4)
    if args.get("sweep") and snap.index is not None:
        out["sweep"] = []
        q_in, t_in = np.load(args["queries_indist"]), np.load(args["truth_indist"])
        ivf = snap.index_info["kind"] == "ivf"
        name = "nprobe" if ivf else "efSearch"
        values = [p for p in NPROBE_SWEEP if p <= snap.index_info["params"].get("nlist", 0)] if ivf else SWEEP
        for ef in values:
            apply_params(snap.index, {name: ef})
            lat_s, found_s = timed(one, queries)
            out["sweep"].append(
                {
                    "param": name,
                    "efSearch": ef,
                    "p50_ms": ms(lat_s, 50),
                    "recall_at_10": round(recall_at_10(found_s, truth), 4),
                    "recall_at_10_indist": round(recall_at_10(timed(one, q_in)[1], t_in), 4),
                }
            )
        apply_params(snap.index, snap.index_info["params"])
    if args.get("filtered"):
        out["filtered"] = []
        rng = np.random.default_rng(3)
        for fraction in (0.03, 0.3):
            allowed = np.sort(rng.choice(snap.size, int(fraction * snap.size), replace=False))
            q = queries[:200]
            _, truth_f = exact_search(snap.vectors, q, 10, allowed)
            lat_f, got = timed(lambda qq, allowed=allowed: snap.search(qq, 10, allowed)[1][0], q)
            out["filtered"].append(
                {
                    "allowed_fraction": fraction,
                    "allowed_rows": len(allowed),
                    "p50_ms": ms(lat_f, 50),
                    "recall_at_10": round(recall_at_10(got, truth_f), 4),
                }
            )
    if args.get("by_rows"):
        out["exact_latency_by_rows"] = []
        for rows in (10_000, 25_000, 50_000, 100_000, 200_000):
            if rows <= snap.size:
                lat_r, _ = timed(
                    lambda qq, rows=rows: exact_search(snap.vectors[:rows], qq, 10)[1][0], queries[:50]
                )
                out["exact_latency_by_rows"].append({"rows": rows, "p50_ms": ms(lat_r, 50)})
    return out


def run_child(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    if kind == "query":  # single-query latency on one thread, as a server handling requests in parallel
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, __file__, "_child", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the benchmark ---------------------------------------------------------------------------


def configs(n: int, only: list[str]) -> list[tuple[str, str, int | None]]:
    """``(name, factory, ivf_threshold)`` of the configurations named in ``only``."""
    from semclust.vectors.ann import ivf_factory

    nlist = 1024 if n >= 500_000 else 256
    every = {
        "exact": ("exact (Flat, mmap)", "Flat", None),
        "auto": ("auto", "auto", None),
        "auto-ivf": (f"auto above IVF_THRESHOLD ({ivf_factory(n)})", "auto", 1),
        "hnsw-flat": ("HNSW32 (flat storage)", "HNSW32", None),
        "ivf-pq": (f"IVF{nlist},PQ96x4fs + re-rank", f"IVF{nlist},PQ96x4fs", None),
    }
    return [every[name] for name in only]


def bench_size(n: int, real: np.ndarray, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from semclust.vectors import exact_search

    folder = work / f"n{n}"
    t0 = time.perf_counter()
    calibration = generate(real, n, folder, args.generator)
    base = np.load(folder / "base.npy", mmap_mode="r")
    queries = np.load(folder / "queries.npy")[: args.queries]
    np.save(folder / "queries.npy", queries)
    # Ground truth in blocks of queries (exact, against the whole base).
    for name in ("", "_indist"):
        q = np.load(folder / f"queries{name}.npy")
        truth = np.vstack([exact_search(base, q[a : a + 100], 10)[1] for a in range(0, len(q), 100)])
        np.save(folder / f"truth{name}.npy", truth)
    sims, _ = exact_search(base, queries[:HELD_OUT], 10)
    calibration["synthetic_full_nn_cosine_median_1st_10th"] = [
        round(float(np.median(sims[:, i])), 3) for i in (0, 9)
    ]
    print(
        f"\n== {n:,} chunks: data and ground truth in {time.perf_counter() - t0:.0f} s; {calibration}",
        flush=True,
    )
    result: dict[str, Any] = {"rows": n, "calibration": calibration, "configs": []}
    common = {
        f"{kind}{name}": str(folder / f"{kind}{name}.npy")
        for kind in ("queries", "truth")
        for name in ("", "_indist")
    }
    for name, factory, ivf_threshold in configs(n, args.configs.split(",")):
        root = folder / (factory.replace(",", "_") + ("-ivf" if ivf_threshold else ""))
        built = run_child(
            "build",
            {
                "base": str(folder / "base.npy"),
                "root": str(root),
                "factory": factory,
                "ivf_threshold": ivf_threshold,
            },
        )
        lat_q = args.exact_queries if factory == "Flat" else args.queries
        query = run_child(
            "query",
            {
                **common,
                "root": str(root),
                "latency_queries": lat_q,
                "filtered": factory == "auto",
                "sweep": factory == "auto",
                "by_rows": factory == "Flat",
            },
        )
        row = {"config": name, "factory": factory, **built, **query}
        row["index_mb_per_million"] = round(built["index_mb"] * 1e6 / n)
        row["rss_mb_per_million"] = round(query["rss_mb"] * 1e6 / n)
        result["configs"].append(row)
        print(fmt_row(row), flush=True)
        snap_dir = root / "0000000001"
        if factory == "auto" and built["index_info"]["kind"] != "exact":
            raw = run_child(
                "query", {**common, "root": str(root), "latency_queries": args.queries, "raw": True}
            )
            raw_row = {
                "config": f"{built['index_info']['factory']} raw FAISS, no re-rank",
                "factory": built["index_info"]["factory"],
                "index_mb": built["index_mb"],
                **raw,
            }
            result["configs"].append(raw_row)
            print(fmt_row(raw_row), flush=True)
        if factory in ("auto", "Flat") and not ivf_threshold and not args.no_float16:
            root16 = folder / (root.name + "-f16")
            to_float16(snap_dir, root16 / "0000000001")
            lat16 = lat_q if factory == "auto" else max(10, lat_q // 5)  # exact float16 is slow
            q16 = run_child("query", {**common, "root": str(root16), "latency_queries": lat16})
            row16 = {
                "config": f"{name}, float16 vectors",
                "factory": factory,
                "vectors_mb": round((root16 / "0000000001" / "vectors.npy").stat().st_size / 2**20, 1),
                "index_mb": built["index_mb"],
                **q16,
            }
            result["configs"].append(row16)
            print(fmt_row(row16), flush=True)
            shutil.rmtree(root16)
        shutil.rmtree(root)
    return result


def fmt_row(r: dict[str, Any]) -> str:
    info = r.get("index_info") or {}
    params = info.get("params") or {}
    tuned = params.get("efSearch", params.get("nprobe", ""))
    build = f"{r['build_s']:7.1f}" if "build_s" in r else "      -"
    indist = r.get("recall_at_10_indist", "")
    return (
        f"{r['config'][:38]:38} {build} {r['open_s']:6.3f} {r['index_mb']:6.0f} {r['rss_mb']:6.0f} "
        f"({r['rss_anon_mb']:4.0f}+{r['rss_file_mb']:5.0f}) {r['p50_ms']:7.3f} {r['p99_ms']:7.3f} "
        f"{r['recall_at_10']:6.3f} {indist!s:>6} {info.get('recall_at_10', '')!s:>6} {tuned!s:>5}"
    )


HEADER = (
    f"{'configuration':38} {'build s':>7} {'open s':>6} {'idx MB':>6} {'RSS MB':>6} "
    f"({'anon':>4}+{'file':>5}) {'p50 ms':>7} {'p99 ms':>7} {'recall':>6} {'in-d':>6} {'tuned':>6} "
    f"{'ef/np':>5}"
)


def print_extras(res: dict[str, Any]) -> None:
    for row in res["configs"]:
        for f in row.get("filtered", []):
            print(
                f"   {row['config']}, filtered to {f['allowed_fraction']:.0%} of rows "
                f"({f['allowed_rows']:,}): p50 {f['p50_ms']:.3f} ms, recall@10 {f['recall_at_10']:.3f}"
            )
        if row.get("sweep"):
            param = row["sweep"][0].get("param", "efSearch")
            print(f"   {row['config']}, {param} sweep (with re-ranking): {param} p50 ms recall in-dist")
            for e in row["sweep"]:
                print(
                    f"      {e['efSearch']:5d} {e['p50_ms']:7.3f} {e['recall_at_10']:6.3f} "
                    f"{e['recall_at_10_indist']:6.3f}"
                )
        if "index_mb_per_million" in row:
            print(
                f"   {row['config']}: per million chunks {row['index_mb_per_million']} MB of index, "
                f"{row['rss_mb_per_million']} MB resident after the queries, "
                f"{round(row['vectors_mb'] * 1e6 / res['rows'])} MB of float32 vectors on disk"
            )
        if row.get("exact_latency_by_rows"):
            print(
                "   exact search p50 by rows: "
                + ", ".join(f"{e['rows']:,}: {e['p50_ms']} ms" for e in row["exact_latency_by_rows"])
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        fn = child_build if sys.argv[2] == "build" else child_query
        print(json.dumps(fn(json.loads(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="evaluation data (the BBC and R8 sets the benchmark stores were built from)",
    )
    parser.add_argument(
        "--stores",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "stores",
        help="benchmark stores holding the real chunk vectors (bench_themes.py builds them)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "index.json")
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "index-work",
        help="scratch folder for matrices and snapshots (removed at the end)",
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries (at most 1000)")
    parser.add_argument("--exact-queries", type=int, default=100, help="queries timed for exact search")
    parser.add_argument("--generator", choices=("mix", "jitter"), default="mix")
    parser.add_argument("--quick", action="store_true", help="20k rows and 200 queries")
    parser.add_argument(
        "--configs",
        default="exact,auto,auto-ivf,hnsw-flat,ivf-pq",
        help="comma-separated: exact, auto, auto-ivf, hnsw-flat, ivf-pq",
    )
    parser.add_argument("--no-float16", action="store_true", help="skip the float16-vectors variants")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    if args.quick:
        args.queries = min(args.queries, 200)
    started = time.perf_counter()
    real = real_vectors(args.stores)
    print(
        f"{len(real)} real chunk vectors from {args.stores} (BBC + Reuters R8, all-MiniLM-L6-v2), "
        f"expanded to {sizes} rows by the {args.generator!r} generator (synthetic; see the docstring)"
    )
    print(HEADER)
    if args.work.exists():
        shutil.rmtree(args.work)
    results = []
    try:
        for n in sizes:
            results.append(bench_size(n, real, args.work, args))
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print("\n" + HEADER)
    for res in results:
        print(f"-- {res['rows']:,} rows")
        for row in res["configs"]:
            print(fmt_row(row))
        print_extras(res)
    print(
        "recall = recall@10 of the held-out-source queries vs exact search; in-d = the same for "
        "in-distribution queries; tuned = recall@10 measured at build time (newest rows held out); "
        "RSS = growth of a fresh process after opening and querying (anonymous + file-backed "
        "mapped pages); open = Snapshot.load, warm page cache; queries single-threaded"
    )
    from importlib.metadata import version

    payload = {
        "benchmark": "index",
        "sizes": sizes,
        "generator": args.generator,
        "seconds": round(time.perf_counter() - started),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {p: version(p) for p in ("faiss-cpu", "numpy")},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out} ({payload['seconds']} s)")


if __name__ == "__main__":
    main()
