"""Benchmark of the themes stage against human topic labels, and against BERTopic.

For each corpus (BBC News, Reuters R8 test) the articles are indexed once into a store
(chunked and embedded with the bundled all-MiniLM-L6-v2; reused on later runs), then:

* semclust themes with default settings (no number of themes given): V-measure, NMI and ARI
  of each article's main theme against the human labels, outliers counted as one class of
  their own (as BERTopic's are), share of outliers, number of themes, seconds per stage;
* the same with ``assign_outliers=True``, and with ``level="chunks"``;
* stability: the defaults with 5 UMAP seeds, mean ARI between every pair of runs;
* BERTopic with its defaults, given the same embeddings (article vectors pooled from the
  store's chunks; ``--bertopic-embeddings truncated`` also runs BERTopic on its usual
  whole-article embedding, which the model truncates at 256 word pieces).

Each corpus runs in its own process; peak RSS is that process's peak so far after each step
(semclust runs first, so its figure is its own; BERTopic's includes what came before).

    python benchmarks/bench_themes.py --data ../shared/data --out benchmarks/results/themes.json
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPORA = {"bbc": "bbc/bbc.jsonl.gz", "reuters": "reuters/r8-test.jsonl.gz"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if limit and limit < len(rows):
        pick = np.sort(np.random.default_rng(0).choice(len(rows), size=limit, replace=False))
        rows = [rows[i] for i in pick]
    return rows


def scores(truth: list[str], labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    return {
        "v_measure": round(float(v_measure_score(truth, labels)), 4),
        "nmi": round(float(normalized_mutual_info_score(truth, labels)), 4),
        "ari": round(float(adjusted_rand_score(truth, labels)), 4),
        "outlier_share": round(float(np.mean(labels < 0)), 4),
        "n_themes": len(set(labels.tolist()) - {-1}),
    }


def build_store(name: str, rows: list[dict[str, Any]], stores: Path, limit: int | None) -> tuple[Any, float]:
    import semclust

    folder = stores / (f"{name}-{limit}.semclust" if limit else f"{name}.semclust")
    store = semclust.Store.open(folder)
    started = time.perf_counter()
    if len(store) == 0:
        docs = [
            {"id": r["id"], "title": r.get("title", ""), "text": r["text"], "label": r["label"]} for r in rows
        ]
        print(f"[{name}] indexing {len(docs)} articles into {folder} ...", flush=True)
        print(f"[{name}] {store.add(docs)}", flush=True)
    return store, time.perf_counter() - started


def run_ours(
    vectors: np.ndarray, doc_ids: list[str], texts: dict[str, str], truth: dict[str, str], **params: Any
) -> dict[str, Any]:
    from semclust.themes import ThemeModel

    started = time.perf_counter()
    model = ThemeModel(**params).fit(vectors, doc_ids, texts)
    seconds = time.perf_counter() - started
    labels = model.labels_
    out = scores([truth[a] for a in model.article_ids_], labels)
    out.update(
        seconds=round(seconds, 2),
        stages=model.timings_,
        peak_rss_mb=round(peak_rss_mb()),
        min_cluster_size=model.min_cluster_size_,
    )
    out["names"] = [t.name for t in model.themes_]
    out["_labels"] = labels
    return out


def run_bertopic(docs: list[str], embeddings: np.ndarray, truth: list[str]) -> dict[str, Any]:
    from bertopic import BERTopic

    started = time.perf_counter()
    topics, _ = BERTopic().fit_transform(docs, embeddings)
    seconds = time.perf_counter() - started
    out = scores(truth, np.asarray(topics))
    out.update(seconds=round(seconds, 2), peak_rss_mb=round(peak_rss_mb()))
    return out


def bench_corpus(name: str, args: argparse.Namespace) -> dict[str, Any]:
    rows = load(args.data / CORPORA[name], args.limit)
    truth = {r["id"]: r["label"] for r in rows}
    store, embed_s = build_store(name, rows, args.stores, args.limit)
    vectors, _, doc_ids = store.embeddings()
    vectors = np.asarray(vectors)
    docs = {d.id: d for d in store.documents()}
    ids = list(dict.fromkeys(doc_ids))
    texts = {i: f"{docs[i].title}\n{docs[i].text}" for i in ids}
    result: dict[str, Any] = {
        "articles": len(ids),
        "chunks": len(vectors),
        "index_seconds": round(embed_s, 1),
        "methods": {},
    }
    methods = result["methods"]

    def record(label: str, out: dict[str, Any]) -> None:
        out.pop("_labels", None)
        methods[label] = out
        print(f"[{name}] {label}: {json.dumps({k: v for k, v in out.items() if k != 'names'})}", flush=True)

    record("semclust (defaults)", run_ours(vectors, doc_ids, texts, truth))
    record(
        "semclust assign_outliers=True",
        run_ours(vectors, doc_ids, texts, truth, assign_outliers=True, coords=False),
    )
    record("semclust level='chunks'", run_ours(vectors, doc_ids, texts, truth, level="chunks", coords=False))
    runs = [
        run_ours(vectors, doc_ids, texts, truth, random_state=seed, coords=False)
        for seed in range(args.seeds)
    ]
    if len(runs) > 1:
        from sklearn.metrics import adjusted_rand_score

        pairs = [adjusted_rand_score(a["_labels"], b["_labels"]) for a, b in itertools.combinations(runs, 2)]
        result["stability"] = {
            "seeds": args.seeds,
            "mean_pairwise_ari": round(float(np.mean(pairs)), 4),
            "v_measure_mean": round(float(np.mean([r["v_measure"] for r in runs])), 4),
            "v_measure_std": round(float(np.std([r["v_measure"] for r in runs])), 4),
            "ari_mean": round(float(np.mean([r["ari"] for r in runs])), 4),
            "ari_std": round(float(np.std([r["ari"] for r in runs])), 4),
            "n_themes": [r["n_themes"] for r in runs],
        }
        print(f"[{name}] stability: {result['stability']}", flush=True)
    if not args.no_bertopic:
        from semclust.themes import _group, _pool

        article_ids, row_article = _group(doc_ids, len(vectors))
        pooled = _pool(vectors, row_article, len(article_ids))
        order_docs = [texts[a] for a in article_ids]
        order_truth = [truth[a] for a in article_ids]
        record("BERTopic defaults (pooled chunk vectors)", run_bertopic(order_docs, pooled, order_truth))
        if "truncated" in args.bertopic_embeddings:
            started = time.perf_counter()
            truncated = store.embedder.embed(order_docs)
            print(
                f"[{name}] truncated whole-article embeddings in {time.perf_counter() - started:.0f}s",
                flush=True,
            )
            record(
                "BERTopic defaults (truncated article embedding)",
                run_bertopic(order_docs, truncated, order_truth),
            )
    store.close()
    return result


def table(results: dict[str, Any]) -> str:
    cols = ["corpus", "method", "themes", "outliers", "V-measure", "NMI", "ARI", "seconds", "peak RSS MB"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for corpus, res in results["corpora"].items():
        for method, m in res["methods"].items():
            lines.append(
                f"| {corpus} | {method} | {m['n_themes']} | {m['outlier_share']:.1%} | "
                f"{m['v_measure']:.3f} | {m['nmi']:.3f} | {m['ari']:.3f} | {m['seconds']:.1f} | "
                f"{m['peak_rss_mb']} |"
            )
    for corpus, res in results["corpora"].items():
        if "stability" in res:
            s = res["stability"]
            lines.append(
                f"\n{corpus}: stability over {s['seeds']} seeds: mean pairwise ARI "
                f"{s['mean_pairwise_ari']:.3f}; V-measure {s['v_measure_mean']:.3f} "
                f"± {s['v_measure_std']:.3f}, "
                f"ARI {s['ari_mean']:.3f} ± {s['ari_std']:.3f}, themes {s['n_themes']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    default_data = Path(os.environ.get("SEMCLUST_DATA") or ROOT.parent / "shared" / "data")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, default=default_data, help="folder of the evaluation data (shared/data)"
    )
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "themes.json", help="JSON results file"
    )
    p.add_argument("--limit", type=int, default=None, help="use a random sample of N articles per corpus")
    p.add_argument("--corpora", default="bbc,reuters", help="comma-separated: bbc, reuters")
    p.add_argument(
        "--stores",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "stores",
        help="where to keep the stores",
    )
    p.add_argument("--seeds", type=int, default=5, help="UMAP seeds for the stability measure")
    p.add_argument("--no-bertopic", action="store_true", help="skip BERTopic")
    p.add_argument("--bertopic-embeddings", default="pooled", help="pooled or pooled,truncated")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"no evaluation data at {args.data}; pass --data or set SEMCLUST_DATA", file=sys.stderr)
        return 2
    import platform

    import semclust

    results: dict[str, Any] = {
        "command": "python benchmarks/bench_themes.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "semclust": semclust.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "corpora": {},
    }
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    if len(names) == 1:
        results["corpora"][names[0]] = bench_corpus(names[0], args)
    else:  # one process per corpus, so that each peak RSS is its own
        import subprocess
        import tempfile

        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "one.json"
                cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])]
                cmd += ["--corpora", name, "--out", str(out)]
                subprocess.run(cmd, check=True)
                results["corpora"][name] = json.loads(out.read_text(encoding="utf-8"))["corpora"][name]
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
