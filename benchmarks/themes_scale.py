"""The ``--scale`` part of ``bench_themes.py``: themes of large corpora (sampled fits, prediction
without UMAP, agreement of sample and full fits). Run it through ``bench_themes.py --scale``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from bench_themes import CORPORA, ROOT, build_store, load, peak_rss_mb

BENCH = Path(__file__).with_name("bench_themes.py")

def sample_run(seed: int, seconds: float, full: Any, fitted: Any, truth: list[str]) -> dict[str, Any]:
    """One sample fit's figures: agreement with the full fit and with the human labels."""
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    return {
        "seed": seed,
        "seconds": round(seconds, 2),
        "ari_vs_full": round(float(adjusted_rand_score(full.labels_, fitted.labels_)), 4),
        "v_measure": round(float(v_measure_score(truth, fitted.labels_)), 4),
        "n_themes": len(fitted.themes_),
        "outlier_share": round(fitted.themes_.outlier_share, 4),
    }


def summarise_runs(res: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """Store the sample runs and the mean/min/max of their agreement figures in ``res``."""
    res["sampled"] = runs
    for key in ("ari_vs_full", "v_measure"):
        values = [r[key] for r in runs]
        res[f"{key}_mean"] = round(float(np.mean(values)), 4)
        res[f"{key}_min"] = round(float(np.min(values)), 4)
        res[f"{key}_max"] = round(float(np.max(values)), 4)


# -- --scale ----------------------------------------------------------------------------------------


class JoinedTexts(dict):  # type: ignore[type-arg]
    """``{doc_id: "title\\ntext"}`` joined on access, as ``store_themes`` does (a sampled fit
    reads the texts of its sample only)."""

    def __init__(self, parts: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self.parts = parts

    def get(self, key: str, default: Any = None) -> Any:
        title, text = self.parts.get(key, ("", default or ""))
        return f"{title}\n{text}"

    def __getitem__(self, key: str) -> str:
        return str(self.get(key, ""))

    def __len__(self) -> int:
        return len(self.parts)


def open_bench_store(name: str, args: argparse.Namespace) -> Any:
    rows = load(args.data / CORPORA[name], None)
    store, _ = build_store(name, rows, args.stores, None)
    return store


class ScaleCorpus(NamedTuple):
    X: np.ndarray  # chunk vectors
    doc_ids: list[str]  # article of each row
    texts: JoinedTexts
    titles: dict[str, str]
    truth: dict[str, str]  # "bbc/<topic>" or "reuters/<topic>" of each article
    sources: dict[str, int]  # real articles tiled, per corpus


def scale_corpus(n: int, args: argparse.Namespace, seed: int = 0) -> ScaleCorpus:
    """``n`` articles from the real BBC + R8 articles: copy ``i`` of article ``a`` has the
    stored chunk vectors of ``a`` plus Gaussian jitter (norm ``args.jitter`` per chunk),
    renormalised, and the real title, text and label of ``a``.
    """
    vectors, row_doc, parts, labels = [], [], {}, {}
    for name in ("bbc", "reuters"):
        store = open_bench_store(name, args)
        v, _, doc_ids = store.embeddings()
        vectors.append(np.asarray(v, dtype=np.float32))
        row_doc += [f"{name}:{d}" for d in doc_ids]
        for d in store.documents():
            parts[f"{name}:{d.id}"] = (d.title, d.text)
            labels[f"{name}:{d.id}"] = f"{name}/{d.metadata.get('label')}"
        store.close()
    base = np.vstack(vectors)
    articles = list(dict.fromkeys(row_doc))
    rows_of: dict[str, list[int]] = {}
    for r, a in enumerate(row_doc):
        rows_of.setdefault(a, []).append(r)
    picks = [articles[i % len(articles)] for i in range(n)]
    ids = [f"{a}#{i // len(articles)}" for i, a in enumerate(picks)]
    rows = np.concatenate([rows_of[a] for a in picks])
    X = base[rows]
    rng = np.random.default_rng(seed)
    X += rng.standard_normal(X.shape, dtype=np.float32) * np.float32(args.jitter / np.sqrt(X.shape[1]))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    doc_ids = np.repeat(np.array(ids, dtype=object), [len(rows_of[a]) for a in picks]).tolist()
    return ScaleCorpus(
        X=X,
        doc_ids=doc_ids,
        texts=JoinedTexts({i: parts[a] for i, a in zip(ids, picks)}),
        titles={i: parts[a][0] for i, a in zip(ids, picks)},
        truth={i: labels[a] for i, a in zip(ids, picks)},
        sources={c: sum(a.startswith(f"{c}:") for a in articles) for c in ("bbc", "reuters")},
    )


def compare_hdbscan(
    embedding: np.ndarray, min_cluster_size: int, min_samples: int, truth: list[str] | None = None
) -> dict[str, Any]:
    """scikit-learn's HDBSCAN and fast_hdbscan (if installed) on the same UMAP output."""
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    out: dict[str, Any] = {"points": len(embedding), "min_cluster_size": min_cluster_size}
    started = time.perf_counter()
    a = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True).fit(embedding).labels_
    out["sklearn_seconds"] = round(time.perf_counter() - started, 3)
    out["sklearn_themes"] = len(set(a.tolist()) - {-1})
    if truth is not None:
        out["sklearn_v_measure"] = round(float(v_measure_score(truth, a)), 4)
    try:
        import fast_hdbscan
    except ImportError:
        out["fast_hdbscan"] = "not installed"
        return out
    times = []
    for _ in range(2):  # the first call of a process loads (or compiles) fast_hdbscan's numba code
        started = time.perf_counter()
        b = (
            fast_hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples)
            .fit(embedding)
            .labels_
        )
        times.append(round(time.perf_counter() - started, 3))
    out.update(
        fast_first_seconds=times[0],
        fast_again_seconds=times[1],
        fast_themes=len(set(b.tolist()) - {-1}),
        ari_between=round(float(adjusted_rand_score(a, b)), 4),
    )
    if truth is not None:
        out["fast_v_measure"] = round(float(v_measure_score(truth, b)), 4)
    return out


FRESH_PREDICT = """
import json, sys, time
started = time.perf_counter()
import numpy as np
from semclust.themes import Themes
themes = Themes.load(sys.argv[1])
loaded = time.perf_counter()
queries = np.load(sys.argv[2])
clock = time.perf_counter()
predictions = [themes.predict_article(q[None, :]) for q in queries]
each = (time.perf_counter() - clock) / len(queries)
heavy = [m for m in ("umap", "pynndescent", "numba", "hdbscan", "fast_hdbscan") if m in sys.modules]
print(json.dumps({"load_seconds": round(loaded - started, 3), "predict_ms": round(each * 1000, 2),
                  "imported": heavy, "novel": sum(p.novel for p in predictions)}))
"""


def bench_scale_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Themes of ``n`` articles from their vectors, in this (fresh) process."""
    import subprocess
    import tempfile

    started = time.perf_counter()
    corpus = scale_corpus(n, args)
    X, doc_ids, texts, titles = corpus.X, corpus.doc_ids, corpus.texts, corpus.titles
    out: dict[str, Any] = {
        "articles": n,
        "chunks": len(X),
        "base_articles": corpus.sources,
        "jitter": args.jitter,
        "build_seconds": round(time.perf_counter() - started, 1),
        "rss_before_fit_mb": round(peak_rss_mb()),
    }
    print(f"[scale {n}] built {len(X)} chunk vectors in {out['build_seconds']} s", flush=True)
    from semclust.themes import ThemeModel, Themes, match_themes

    started = time.perf_counter()
    params = {} if args.max_fit is None else {"max_fit_articles": args.max_fit}
    model = ThemeModel(**params).fit(X, doc_ids, texts, titles=titles)
    out["fit_seconds"] = round(time.perf_counter() - started, 2)
    themes = model.themes_
    out.update(
        stages=model.timings_,
        fitted_on=themes.params["n_fit_articles_"],
        min_cluster_size=model.min_cluster_size_,
        clusterer=themes.params["clusterer_"],
        n_themes=len(themes),
        outlier_share=round(themes.outlier_share, 4),
        names=[t.name for t in themes][:12],
        rss_after_fit_mb=round(peak_rss_mb()),
    )
    print(f"[scale {n}] fit in {out['fit_seconds']} s: {model.timings_}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "themes"
        clock = time.perf_counter()
        themes.save(folder)
        out["save_seconds"] = round(time.perf_counter() - clock, 2)
        out["saved_mb"] = round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 1)
        clock = time.perf_counter()
        loaded = Themes.load(folder)
        out["load_seconds"] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        match_themes(loaded, themes)
        out["match_seconds"] = round(time.perf_counter() - clock, 2)
        rng = np.random.default_rng(1)
        queries = X[rng.choice(len(X), size=200, replace=False)]
        queries = queries + rng.standard_normal(queries.shape, dtype=np.float32) * np.float32(0.02)
        np.save(Path(tmp) / "queries.npy", queries)
        done = subprocess.run(
            [sys.executable, "-c", FRESH_PREDICT, str(folder), str(Path(tmp) / "queries.npy")],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        out["fresh_theme_of"] = json.loads(done.stdout.strip().splitlines()[-1])
    out["to_named_themes_seconds"] = round(out["fit_seconds"] + out["save_seconds"], 2)
    if model.embedding_ is not None and not args.no_hdbscan_compare:
        hdb = model.hdbscan_model_
        out["hdbscan"] = compare_hdbscan(model.embedding_, hdb.min_cluster_size, hdb.min_samples)
    out["peak_rss_mb"] = round(peak_rss_mb())
    return out


def bench_agreement(args: argparse.Namespace) -> dict[str, Any]:
    """Sample fits against full fits on BBC and R8, and the two HDBSCANs on real UMAP output."""
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    from semclust.themes import ThemeModel

    out: dict[str, Any] = {}
    for name in ("bbc", "reuters"):
        store = open_bench_store(name, args)
        clock = time.perf_counter()
        vectors, _, doc_ids = store.embeddings()
        embeddings_s = time.perf_counter() - clock
        clock = time.perf_counter()
        docs = {d.id: d for d in store.documents()}
        documents_s = time.perf_counter() - clock
        store.close()
        ids = list(dict.fromkeys(doc_ids))
        truth = [str(docs[i].metadata.get("label")) for i in ids]
        texts = {i: f"{docs[i].title}\n{docs[i].text}" for i in ids}
        X = np.asarray(vectors)
        clock = time.perf_counter()
        full = ThemeModel(max_fit_articles=None, coords=False).fit(X, doc_ids, texts)
        res: dict[str, Any] = {
            "articles": len(ids),
            "sample": args.sample,
            "full": {
                "seconds": round(time.perf_counter() - clock, 2),
                "n_themes": len(full.themes_),
                "outlier_share": round(full.themes_.outlier_share, 4),
                "v_measure": round(float(v_measure_score(truth, full.labels_)), 4),
            },
            "store_reads": {
                "embeddings_seconds": round(embeddings_s, 3),
                "documents_seconds": round(documents_s, 3),
            },
        }
        other = ThemeModel(max_fit_articles=None, coords=False, random_state=1).fit(X, doc_ids)
        res["full"]["ari_other_seed"] = round(float(adjusted_rand_score(full.labels_, other.labels_)), 4)
        runs = []
        for seed in range(args.sample_seeds):
            clock = time.perf_counter()
            m = ThemeModel(max_fit_articles=args.sample, coords=False, random_state=seed).fit(
                X, doc_ids, texts
            )
            runs.append(sample_run(seed, time.perf_counter() - clock, full, m, truth))
            print(f"[agreement {name}] {runs[-1]}", flush=True)
        summarise_runs(res, runs)
        if full.embedding_ is not None and not args.no_hdbscan_compare:
            mcs = full.min_cluster_size_
            res["hdbscan"] = compare_hdbscan(full.embedding_, mcs, mcs, truth)
        out[name] = res
    if args.agreement_size:
        out[f"tiled {args.agreement_size:,}"] = tiled_agreement(args)
    return out


def tiled_agreement(args: argparse.Namespace) -> dict[str, Any]:
    """A full fit of ``args.agreement_size`` tiled articles against fits on the default sample."""
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    from semclust.themes import MAX_FIT_ARTICLES, ThemeModel

    corpus = scale_corpus(args.agreement_size, args)
    sample = args.max_fit or MAX_FIT_ARTICLES
    clock = time.perf_counter()
    full = ThemeModel(max_fit_articles=None, coords=False).fit(corpus.X, corpus.doc_ids)
    truth = [corpus.truth[a] for a in full.article_ids_]
    res: dict[str, Any] = {
        "articles": len(truth),
        "sample": sample,
        "full": {
            "seconds": round(time.perf_counter() - clock, 2),
            "n_themes": len(full.themes_),
            "outlier_share": round(full.themes_.outlier_share, 4),
            "v_measure": round(float(v_measure_score(truth, full.labels_)), 4),
        },
    }
    other = ThemeModel(max_fit_articles=None, coords=False, random_state=1).fit(corpus.X, corpus.doc_ids)
    res["full"]["ari_other_seed"] = round(float(adjusted_rand_score(full.labels_, other.labels_)), 4)
    print(f"[agreement tiled] full: {res['full']}", flush=True)
    runs = []
    for seed in range(args.agreement_seeds):
        clock = time.perf_counter()
        m = ThemeModel(max_fit_articles=sample, coords=False, random_state=seed)
        m.fit(corpus.X, corpus.doc_ids)
        runs.append(sample_run(seed, time.perf_counter() - clock, full, m, truth))
        print(f"[agreement tiled] {runs[-1]}", flush=True)
    summarise_runs(res, runs)
    return res


def run_in_process(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """Run this script with ``extra`` arguments in a fresh process; its JSON result."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "one.json"
        cmd = [
            sys.executable,
            str(BENCH),
            "--data",
            str(args.data),
            "--stores",
            str(args.stores),
            "--out",
            str(out),
            "--jitter",
            str(args.jitter),
            "--sample",
            str(args.sample),
            "--sample-seeds",
            str(args.sample_seeds),
            "--agreement-size",
            str(args.agreement_size),
            "--agreement-seeds",
            str(args.agreement_seeds),
            *extra,
        ]
        if args.max_fit is not None:
            cmd += ["--max-fit", str(args.max_fit)]
        if args.no_hdbscan_compare:
            cmd.append("--no-hdbscan-compare")
        subprocess.run(cmd, check=True)
        return dict(json.loads(out.read_text(encoding="utf-8")))


SCALE_COLUMNS = (
    "articles | chunks | fitted on | themes | outliers | reduce | cluster | assign | labels | coords | fit s "
    "| save s | vectors → named themes s | load s | match s | fresh theme_of: load s | ms/article "
    "| UMAP imported | peak RSS MB"
)
AGREEMENT_COLUMNS = (
    "corpus | articles | full: themes | full: V | full, UMAP seed 1: ARI vs full | sample | seeds "
    "| ARI vs full: mean (min-max) "
    "| V: mean (min-max) | themes"
)
HDBSCAN_COLUMNS = (
    "UMAP output of | points | sklearn s | fast_hdbscan s: first call | again | ARI between "
    "| themes: sklearn, fast | V: sklearn, fast"
)


def row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(title: str, columns: str) -> list[str]:
    names = columns.split(" | ")
    return ["", title, "", row(names), "|" + "---|" * len(names)]


def spread(r: dict[str, Any], key: str) -> str:
    return f"{r[key + '_mean']:.3f} ({r[key + '_min']:.3f}-{r[key + '_max']:.3f})"


def scale_table(results: dict[str, Any]) -> str:
    title = (
        "Themes at scale (BBC + R8 article vectors tiled with jitter, real texts; a fresh process per size)"
    )
    lines = header(title, SCALE_COLUMNS)
    for r in results["sizes"].values():
        st, fresh = r["stages"], r["fresh_theme_of"]
        stages = [f"{st[k]:.1f}" for k in ("reduce", "cluster", "assign", "labels", "coords")]
        lines.append(
            row([
                f"{r['articles']:,}", f"{r['chunks']:,}", f"{r['fitted_on']:,}", r["n_themes"],
                f"{r['outlier_share']:.1%}", *stages, f"{r['fit_seconds']:.1f}", f"{r['save_seconds']:.1f}",
                f"{r['to_named_themes_seconds']:.1f}", f"{r['load_seconds']:.2f}",
                f"{r['match_seconds']:.2f}", f"{fresh['load_seconds']:.2f}", f"{fresh['predict_ms']:.1f}",
                "yes" if "umap" in fresh["imported"] else "no", f"{r['peak_rss_mb']:,}",
            ])
        )  # fmt: skip
    agreement = results.get("agreement", {})
    if agreement:
        title = (
            "Sample fit against full fit (ARI over all articles, outliers one class; V-measure: human labels)"
        )
        lines += header(title, AGREEMENT_COLUMNS)
        for name, r in agreement.items():
            f = r["full"]
            lines.append(
                row([
                    name, f"{r['articles']:,}", f["n_themes"], f"{f['v_measure']:.3f}",
                    f"{f.get('ari_other_seed', float('nan')):.3f}", f"{r['sample']:,}",
                    len(r["sampled"]), spread(r, "ari_vs_full"), spread(r, "v_measure"),
                    ", ".join(str(x["n_themes"]) for x in r["sampled"]),
                ])
            )  # fmt: skip
    hdbscans = [(f"{k} (full fit)", v["hdbscan"]) for k, v in agreement.items() if "hdbscan" in v]
    hdbscans += [
        (f"{r['articles']:,} articles", r["hdbscan"]) for r in results["sizes"].values() if "hdbscan" in r
    ]
    if hdbscans:
        lines += header(
            "scikit-learn's HDBSCAN against fast_hdbscan on the same UMAP output", HDBSCAN_COLUMNS
        )
        for label, h in hdbscans:
            cells = [label, f"{h['points']:,}", f"{h['sklearn_seconds']:.2f}"]
            if "fast_first_seconds" not in h:
                lines.append(row([*cells, h.get("fast_hdbscan")]))
                continue
            v = f"{h['sklearn_v_measure']:.3f}, {h['fast_v_measure']:.3f}" if "sklearn_v_measure" in h else ""
            lines.append(
                row([
                    *cells, f"{h['fast_first_seconds']:.2f}", f"{h['fast_again_seconds']:.2f}",
                    f"{h['ari_between']:.4f}", f"{h['sklearn_themes']}, {h['fast_themes']}", v,
                ])
            )  # fmt: skip
    return "\n".join(lines)


def main_scale(args: argparse.Namespace) -> int:
    import platform

    import semclust

    if args.scale_size:
        result: dict[str, Any] = {"size": bench_scale_size(args.scale_size, args)}
    elif args.agreement_only:
        result = {"agreement": bench_agreement(args)}
    else:
        result = {
            "command": "python benchmarks/bench_themes.py " + " ".join(sys.argv[1:]),
            "semclust": semclust.__version__,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "sizes": {},
        }
        for size in [int(x) for x in args.sizes.split(",") if x.strip()]:
            result["sizes"][str(size)] = run_in_process(args, ["--scale", "--scale-size", str(size)])["size"]
        if args.sample:
            result["agreement"] = run_in_process(args, ["--scale", "--agreement-only"])["agreement"]
        print(scale_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
