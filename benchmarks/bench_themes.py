"""Benchmark of the themes stage against human topic labels, and against BERTopic.

For each corpus (BBC News, Reuters R8 test) the articles are indexed once into a store
(chunked and embedded with the bundled all-MiniLM-L6-v2; reused on later runs), then:

* semclust themes with default settings (no number of themes given): V-measure, NMI and ARI
  of each article's main theme against the human labels, outliers counted as one class of
  their own (as BERTopic's are), share of outliers, number of themes, seconds per stage;
* the same with ``assign_outliers=True``, and with ``level="chunks"``;
* stability: the defaults with 5 UMAP seeds, mean ARI between every pair of runs; beside it
  the same for the k-means oracle (told the true k) over the same number of seeds, which says
  how stable any partition of these vectors into that many groups is; on a corpus with coarse
  groups (20 Newsgroups), the 6-theme cut against them in every seeded run too (its lowest and
  highest), since one seed's cut can be lucky;
* BERTopic with its defaults, given the same embeddings (article vectors pooled from the
  store's chunks; ``--bertopic-embeddings truncated`` also runs BERTopic on its usual
  whole-article embedding, which the model truncates at 256 word pieces).

Each corpus runs in its own process; peak RSS is that process's peak so far after each step
(semclust runs first, so its figure is its own; BERTopic's includes what came before).

    python benchmarks/bench_themes.py --data ../shared/data --out benchmarks/results/themes.json

``--scale`` measures themes of large corpora instead (``ThemeModel(max_fit_articles=...)``,
:mod:`semclust.themes.scale`):

* for each of ``--sizes`` (default 10,000 and 100,000 articles), in a fresh process: a corpus
  built from the real BBC + R8 articles of the benchmark stores (their stored chunk vectors,
  tiled to the size with Gaussian jitter of norm ``--jitter`` per chunk and renormalised; each
  copy keeps its article's real text for keywords): seconds per stage of the fit (which
  includes numba's compilation in a fresh process), of saving, loading and matching the
  themes, of a ``theme_of``-style prediction in another fresh process (and whether it
  imported UMAP), peak RSS, the number of themes and the share of outliers; scikit-learn's
  HDBSCAN against fast_hdbscan on the same UMAP output;
* sample against full fits on BBC and R8: ARI between a fit on a seeded sample of
  ``--sample`` articles (``--sample-seeds`` seeds) and a fit on every article, and the
  V-measure of each against the human labels; for scale, the ARI between two full fits with
  different UMAP seeds; the two HDBSCAN implementations on the full fit's UMAP output;
* the same at the default sample size: a full fit of ``--agreement-size`` tiled articles
  (default 20,000) against fits on the default sample of 10,000 (``--agreement-seeds``).

    python benchmarks/bench_themes.py --scale --out benchmarks/results/themes-scale.json
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import itertools
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPORA = {
    "bbc": "bbc/bbc.jsonl.gz",
    "reuters": "reuters/r8-test.jsonl.gz",
    "20ng": "20newsgroups/20newsgroups-train.jsonl.gz",
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def corpus_path(name: str, args: argparse.Namespace) -> Path:
    """The JSONL file of a corpus: a dev corpus by name, or a labelled JSONL given by path."""
    if name in CORPORA:
        return Path(args.data / CORPORA[name])
    return Path(name)


def corpus_name(name: str) -> str:
    """A short name for a corpus (a file's stem for a JSONL path)."""
    return name if name in CORPORA else Path(name).name.split(".")[0]


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The records of a JSONL file, gzip-compressed (``.gz``) or plain."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
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
        articles = semclust.read(docs, skip_errors=True)  # 20NG has messages of only punctuation
        print(f"[{name}] {store.add(articles)}", flush=True)
        if articles.skipped:
            print(f"[{name}] skipped {len(articles.skipped)} records: {articles.skipped[:3]} ...", flush=True)
    return store, time.perf_counter() - started


def run_ours(
    vectors: np.ndarray,
    doc_ids: list[str],
    texts: dict[str, str],
    truth: dict[str, str],
    words: Any = None,
    docs: list[list[str]] | None = None,
    coarse: dict[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    from themes_quality import label_quality, largest_share

    from semclust.themes import ThemeModel

    started = time.perf_counter()
    model = ThemeModel(**params).fit(vectors, doc_ids, texts, word_vectors=words)
    seconds = time.perf_counter() - started
    labels = model.labels_
    out = scores([truth[a] for a in model.article_ids_], labels)
    out.update(
        seconds=round(seconds, 2),
        stages=model.timings_,
        peak_rss_mb=round(peak_rss_mb()),
        min_cluster_size=model.min_cluster_size_,
        levels=model.levels_,
        largest_share=largest_share(labels),
    )
    if docs is not None:
        out.update(label_quality(model.themes_, docs))
    if coarse:
        six = model.themes_.level(6)
        out["six_cut_vs_coarse"] = scores([coarse[a] for a in model.article_ids_], six.labels)
        out["six_cut_v"] = out["six_cut_vs_coarse"]["v_measure"]
    out["names"] = [t.name for t in model.themes_]
    out["_labels"] = labels
    return out


def run_bertopic(
    docs: list[str],
    embeddings: np.ndarray,
    truth: list[str],
    tokens: list[list[str]] | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """BERTopic with its defaults; with ``seed``, its default UMAP (the same parameters) seeded."""
    from bertopic import BERTopic
    from themes_quality import diversity, largest_share, npmi

    started = time.perf_counter()
    if seed is None:
        model = BERTopic()
    else:
        from umap import UMAP

        umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
        model = BERTopic(umap_model=umap_model)
    topics, _ = model.fit_transform(docs, embeddings)
    seconds = time.perf_counter() - started
    out = scores(truth, np.asarray(topics))
    out.update(seconds=round(seconds, 2), peak_rss_mb=round(peak_rss_mb()))
    out["largest_share"] = largest_share(np.asarray(topics))
    if tokens is not None:
        words = [[w for w, _ in model.get_topic(t)] for t in sorted(set(topics) - {-1})]
        out.update(npmi=npmi([w[:10] for w in words], tokens), diversity=diversity(words))
    return out


SEED_SCORES = ("npmi", "diversity", "v_measure", "ari", "n_themes")


def over_seeds(runs: list[dict[str, Any]], keys: Sequence[str] = SEED_SCORES) -> dict[str, Any]:
    """Mean, min and max over seeded runs of each of the ``keys`` scores."""
    out: dict[str, Any] = {"seeds": len(runs)}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[key] = {
                "mean": round(float(np.mean(values)), 4),
                "min": round(float(np.min(values)), 4),
                "max": round(float(np.max(values)), 4),
            }
    return out


def stability(runs: list[dict[str, Any]], seeds: int) -> dict[str, Any]:
    """Agreement of fits with different seeds: mean pairwise ARI, and the spread of the scores."""
    from sklearn.metrics import adjusted_rand_score

    pairs = [adjusted_rand_score(a["_labels"], b["_labels"]) for a, b in itertools.combinations(runs, 2)]
    return {
        "seeds": seeds,
        "mean_pairwise_ari": round(float(np.mean(pairs)), 4),
        "v_measure_mean": round(float(np.mean([r["v_measure"] for r in runs])), 4),
        "v_measure_std": round(float(np.std([r["v_measure"] for r in runs])), 4),
        "ari_mean": round(float(np.mean([r["ari"] for r in runs])), 4),
        "ari_std": round(float(np.std([r["ari"] for r in runs])), 4),
        "n_themes": [r["n_themes"] for r in runs],
        "label_quality": over_seeds(runs, ("npmi", "diversity")),  # V, ARI, themes: above
        # the 6-theme cut against the coarse groups (where there are some), seed by seed
        "six_cut_v": over_seeds(runs, ("six_cut_v",)).get("six_cut_v"),
    }


def bench_corpus(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from themes_quality import kmeans_oracle, kmeans_stability, tokens

    rows = load(corpus_path(name, args), args.limit)
    truth = {r["id"]: r["label"] for r in rows}
    coarse = {r["id"]: r["label_coarse"] for r in rows if "label_coarse" in r}
    store, embed_s = build_store(corpus_name(name), rows, args.stores, args.limit)
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
    from semclust.themes.assign import group_rows, pool_articles

    article_ids, row_article = group_rows(doc_ids, len(vectors))
    pooled = pool_articles(vectors, row_article, len(article_ids))
    order_truth = [truth[a] for a in article_ids]
    result["kmeans_oracle"] = kmeans_oracle(pooled, order_truth, len(set(order_truth)))
    if coarse:
        order_coarse = [coarse[a] for a in article_ids]
        result["kmeans_coarse"] = kmeans_oracle(pooled, order_coarse, len(set(order_coarse)))
    print(f"[{name}] k-means oracle: {result['kmeans_oracle']} {result.get('kmeans_coarse', '')}", flush=True)
    words = store.embedder.embed
    toks = [tokens(texts[a]) for a in article_ids]
    ours = {"words": words, "coarse": coarse or None}

    def record(label: str, out: dict[str, Any]) -> None:
        out.pop("_labels", None)
        methods[label] = out
        print(f"[{name}] {label}: {json.dumps({k: v for k, v in out.items() if k != 'names'})}", flush=True)

    record("semclust (defaults)", run_ours(vectors, doc_ids, texts, truth, docs=toks, **ours))
    if args.variants:
        record(
            "semclust assign_outliers=True",
            run_ours(vectors, doc_ids, texts, truth, assign_outliers=True, coords=False, **ours),
        )
        record(
            "semclust level='chunks'",
            run_ours(vectors, doc_ids, texts, truth, level="chunks", coords=False, **ours),
        )
    runs = [
        run_ours(
            vectors, doc_ids, texts, truth, random_state=seed, coords=False, words=words, docs=toks,
            coarse=coarse or None,
        )
        for seed in range(args.seeds)
    ]
    if len(runs) > 1:
        result["stability"] = stability(runs, args.seeds)
        k = len(set(order_truth))
        result["stability"]["kmeans_mean_pairwise_ari"] = round(kmeans_stability(pooled, k, args.seeds), 4)
        print(f"[{name}] stability: {result['stability']}", flush=True)
    if not args.no_bertopic and importlib.util.find_spec("bertopic") is not None:
        order_docs = [texts[a] for a in article_ids]
        record(
            "BERTopic defaults (pooled chunk vectors)", run_bertopic(order_docs, pooled, order_truth, toks)
        )
        if args.bertopic_seeds:  # its UMAP seeded as ours is in the stability runs: the same seeds
            seeded = [
                run_bertopic(order_docs, pooled, order_truth, toks, seed=seed)
                for seed in range(args.bertopic_seeds)
            ]
            result["bertopic_seeds"] = over_seeds(seeded)
            print(f"[{name}] BERTopic over seeds: {result['bertopic_seeds']}", flush=True)
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


def seeded_npmi(res: dict[str, Any]) -> str:
    """NPMI over the seeded runs, ours / BERTopic's: ``mean (min-max)``."""

    def cell(q: dict[str, Any] | None) -> str:
        return "—" if not q else f"{q['mean']:.3f} ({q['min']:.3f}-{q['max']:.3f})"

    ours = res.get("stability", {}).get("label_quality", {}).get("npmi")
    return f"{cell(ours)} / {cell(res.get('bertopic_seeds', {}).get('npmi'))}"


def table(results: dict[str, Any]) -> str:
    """The markdown table of a run: semclust defaults against the oracle and BERTopic."""
    cols = [
        "corpus", "articles", "themes (broad/default/fine)", "outliers", "V-measure", "ARI", "largest theme",
        "k-means told k: V (ours ×)", "BERTopic: themes, V, ARI",
        "6-theme cut vs coarse (k-means 6); seeds min-max",
        "NPMI ours / BERTopic", "NPMI over seeds, mean (min-max): ours / BERTopic",
        "diversity ours / BERTopic", "5 seeds: mean pairwise ARI (k-means)",
        "seconds", "peak RSS MB",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for corpus, res in results["corpora"].items():
        m = res["methods"]["semclust (defaults)"]
        b = res["methods"].get("BERTopic defaults (pooled chunk vectors)")
        oracle = res["kmeans_oracle"]
        lv = m.get("levels", {})
        six = "—"
        if "six_cut_vs_coarse" in m and "kmeans_coarse" in res:
            six = f"{m['six_cut_vs_coarse']['v_measure']:.3f} ({res['kmeans_coarse']['v_measure']:.3f})"
            seeded_six = res.get("stability", {}).get("six_cut_v")
            if seeded_six:
                six += f"; seeds {seeded_six['min']:.3f}-{seeded_six['max']:.3f}"
        bert = f"{b['n_themes']}, {b['v_measure']:.3f}, {b['ari']:.3f}" if b else "not run"

        def pair(key: str, m: dict[str, Any] = m, b: dict[str, Any] | None = b) -> str:
            values = [m.get(key), b.get(key) if b else None]
            return " / ".join("—" if v is None else f"{v:.3f}" for v in values)

        stab = res.get("stability", {}).get("mean_pairwise_ari")
        km_stab = res.get("stability", {}).get("kmeans_mean_pairwise_ari")
        stab_cell = "—" if stab is None else f"{stab:.3f}" + ("" if km_stab is None else f" ({km_stab:.3f})")
        lines.append(
            f"| {corpus} | {res['articles']:,} "
            f"| {lv.get('broad', '?')}/{m['n_themes']}/{lv.get('fine', '?')} "
            f"| {m['outlier_share']:.1%} | {m['v_measure']:.3f} | {m['ari']:.3f} | {m['largest_share']:.1%} "
            f"| {oracle['v_measure']:.3f} ({m['v_measure'] / max(oracle['v_measure'], 1e-9):.2f}×) | {bert} "
            f"| {six} | {pair('npmi')} | {seeded_npmi(res)} | {pair('diversity')} | {stab_cell} "
            f"| {m['seconds']:.1f} | {m['peak_rss_mb']} |"
        )
    for corpus, res in results["corpora"].items():
        names = res["methods"]["semclust (defaults)"].get("names", [])
        lines.append(f"\n{corpus} theme names: " + "; ".join(names[:12]))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark."""
    default_data = Path(os.environ.get("SEMCLUST_DATA") or ROOT.parent / "shared" / "data")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, default=default_data, help="folder of the evaluation data (shared/data)"
    )
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "themes.json", help="JSON results file"
    )
    p.add_argument("--limit", type=int, default=None, help="use a random sample of N articles per corpus")
    p.add_argument(
        "--corpora", default="bbc,reuters,20ng", help="comma-separated: bbc, reuters, 20ng"
    )
    p.add_argument("jsonl", nargs="*", help="more labelled JSONL corpora ({id, text, label[, title]})")
    p.add_argument("--variants", action="store_true", help="also assign_outliers=True and level='chunks'")
    p.add_argument(
        "--stores",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "stores",
        help="where to keep the stores",
    )
    p.add_argument("--seeds", type=int, default=5, help="UMAP seeds for the stability measure")
    p.add_argument("--no-bertopic", action="store_true", help="skip BERTopic")
    p.add_argument("--bertopic-embeddings", default="pooled", help="pooled or pooled,truncated")
    p.add_argument(
        "--bertopic-seeds",
        type=int,
        default=5,
        help="also BERTopic with its default UMAP seeded 0..N-1, the stability runs' seeds (0: skip)",
    )
    scale = p.add_argument_group("--scale: themes of large corpora")
    scale.add_argument("--scale", action="store_true", help="benchmark themes at scale instead")
    scale.add_argument("--sizes", default="10000,100000", help="corpus sizes, in articles")
    scale.add_argument(
        "--jitter", type=float, default=0.3, help="norm of the noise added to each tiled chunk vector"
    )
    scale.add_argument(
        "--max-fit", type=int, default=None, help="ThemeModel max_fit_articles (default: its own)"
    )
    scale.add_argument(
        "--sample", type=int, default=1000, help="sample size of the BBC/R8 agreement fits (0: skip)"
    )
    scale.add_argument("--sample-seeds", type=int, default=5, help="seeds of the sample fits")
    scale.add_argument(
        "--agreement-size",
        type=int,
        default=20_000,
        help="tiled articles of the full-vs-default-sample check (0: skip)",
    )
    scale.add_argument("--agreement-seeds", type=int, default=3, help="seeds of the tiled sample fits")
    scale.add_argument("--no-hdbscan-compare", action="store_true", help="skip sklearn vs fast_hdbscan")
    scale.add_argument("--scale-size", type=int, default=0, help=argparse.SUPPRESS)
    scale.add_argument("--agreement-only", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"no evaluation data at {args.data}; pass --data or set SEMCLUST_DATA", file=sys.stderr)
        return 2
    if args.scale:
        if args.out == ROOT / "benchmarks" / "results" / "themes.json":
            args.out = ROOT / "benchmarks" / "results" / "themes-scale.json"
        from themes_scale import main_scale

        return main_scale(args)
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
    names = [n.strip() for n in args.corpora.split(",") if n.strip()] + list(args.jsonl)
    if len(names) == 1:
        results["corpora"][corpus_name(names[0])] = bench_corpus(names[0], args)
    else:  # one process per corpus, so that each peak RSS is its own
        import subprocess
        import tempfile

        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "one.json"
                given = [a for a in (argv if argv is not None else sys.argv[1:]) if a not in args.jsonl]
                cmd = [sys.executable, __file__, *given, "--corpora", name, "--out", str(out)]
                subprocess.run(cmd, check=True)
                short = corpus_name(name)
                results["corpora"][short] = json.loads(out.read_text(encoding="utf-8"))["corpora"][short]
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
