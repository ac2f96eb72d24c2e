"""Theme defaults on corpora derived from the dev sets: other sizes, numbers of topics, mixtures.

The themes defaults must hold on corpora they were not measured on. This benchmark builds
corpora that none of the defaults was chosen on from the stores ``bench_themes.py`` keeps
(their stored chunk vectors, so nothing is embedded again): a small BBC sample, a random one,
a random 2,000 of 20 Newsgroups (20 groups, about 100 messages each), 5 and 10 chosen groups
of it, BBC and R8 together (13 topics in two styles) and R8 without its two large topics.
For each: defaults only, V-measure and ARI against the labels, against k-means told the true
number of topics on the same article vectors (the oracle), themes per level, outliers, the
largest theme against the largest topic, the names. One seed (the default); seeded sampling.

    python benchmarks/bench_themes.py --data ../shared/data --stores S   # builds the stores once
    python benchmarks/bench_themes_derived.py --data ../shared/data --stores S \\
        --out benchmarks/results/themes-derived.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_themes import CORPORA as FILES  # the dev corpora and the stores' names
from themes_quality import kmeans_oracle, largest_share

ROOT = Path(__file__).resolve().parents[1]
FIVE = {"rec.sport.hockey", "sci.space", "talk.politics.guns", "comp.graphics", "soc.religion.christian"}
TEN = FIVE | {"rec.autos", "sci.med", "talk.politics.mideast", "misc.forsale", "sci.crypt"}
Parts = list[tuple[str, list[str]]]


def labels(data: Path) -> dict[tuple[str, str], str]:
    """``(store, id) -> label`` of every dev corpus."""
    out = {}
    for name, rel in FILES.items():
        with gzip.open(data / rel, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                out[(name, r["id"])] = r["label"]
    return out


def corpora(ids: dict[str, list[str]], label: dict[tuple[str, str], str]) -> dict[str, Parts]:
    """The derived corpora: ``name -> [(store, article ids), ...]``."""
    rng = random.Random(7)

    def per_label(store: str, n: int | None, keep: set[str] | None = None) -> list[str]:
        by: dict[str, list[str]] = {}
        for a in ids[store]:
            by.setdefault(label[(store, a)], []).append(a)
        out: list[str] = []
        for lab, members in sorted(by.items()):
            if keep is None or lab in keep:
                out += rng.sample(members, min(n, len(members))) if n else members
        return out

    return {
        "BBC, 40 per topic": [("bbc", per_label("bbc", 40))],
        "BBC, 600 at random": [("bbc", rng.sample(ids["bbc"], 600))],
        "20NG, 2,000 at random": [("20ng", rng.sample(ids["20ng"], 2000))],
        "20NG, 5 distinct groups": [("20ng", per_label("20ng", None, FIVE))],
        "20NG, 10 groups of 150": [("20ng", per_label("20ng", 150, TEN))],
        "BBC + R8 (13 topics)": [("bbc", ids["bbc"]), ("reuters", ids["reuters"])],
        "R8 without earn and acq": [
            ("reuters", [a for a in ids["reuters"] if label[("reuters", a)] not in ("earn", "acq")])
        ],
    }


def run(parts: Parts, stores: dict[str, Any], label: dict[tuple[str, str], str]) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    from semclust.themes import ThemeModel
    from semclust.themes.assign import group_rows, pool_articles

    vectors, doc_ids, texts, truth = [], [], {}, {}
    for name, picked in parts:
        v, d, docs = stores[name]
        keep = set(picked)
        mask = np.array([a in keep for a in d])
        vectors.append(v[mask])
        doc_ids += [f"{name}:{a}" for a, m in zip(d, mask) if m]
        for a in picked:
            texts[f"{name}:{a}"] = f"{docs[a].title}\n{docs[a].text}"
            truth[f"{name}:{a}"] = label[(name, a)]
    X = np.vstack(vectors)
    started = time.perf_counter()
    model = ThemeModel().fit(X, doc_ids, texts, word_vectors=stores["words"])
    seconds = time.perf_counter() - started
    found = np.asarray(model.labels_)
    y = [truth[a] for a in model.article_ids_]
    article_ids, row_article = group_rows(doc_ids, len(X))
    pooled = pool_articles(X, row_article, len(article_ids))
    k = len(set(y))
    oracle_v = kmeans_oracle(pooled, [truth[a] for a in article_ids], k)["v_measure"]
    _, topic_sizes = np.unique(y, return_counts=True)
    v = v_measure_score(y, found)
    return {
        "articles": len(y), "topics": k, "levels": model.levels_,
        "v_measure": round(float(v), 3), "ari": round(float(adjusted_rand_score(y, found)), 3),
        "kmeans_v_measure": round(float(oracle_v), 3), "ratio": round(float(v / oracle_v), 2),
        "outlier_share": round(float(np.mean(found < 0)), 3),
        "largest_share": round(largest_share(found), 3),
        "largest_topic_share": round(float(topic_sizes.max() / len(y)), 3),
        "seconds": round(seconds, 1), "names": [t.name for t in model.themes_],
    }  # fmt: skip


def table(results: dict[str, dict[str, Any]]) -> str:
    head = (
        "| corpus | articles | topics | themes broad / default / fine | V-measure (× k-means told k) "
        "| ARI | outliers | largest theme (largest topic) |"
    )
    rows = [head, "|" + "---|" * 8]
    for name, r in results.items():
        lv = r["levels"]
        rows.append(
            f"| {name} | {r['articles']:,} | {r['topics']} | {lv['broad']} / {lv['themes']} / {lv['fine']} "
            f"| {r['v_measure']:.3f} ({r['ratio']:.2f}×) | {r['ari']:.3f} | {r['outlier_share']:.1%} "
            f"| {r['largest_share']:.1%} ({r['largest_topic_share']:.1%}) |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    default_data = Path(os.environ.get("SEMCLUST_DATA") or ROOT.parent / "shared" / "data")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=default_data, help="folder of the evaluation data")
    p.add_argument(
        "--stores", type=Path, default=ROOT / "benchmarks" / "results" / "stores",
        help="the stores bench_themes.py built (bbc, reuters, 20ng)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "themes-derived.json")
    args = p.parse_args(argv)
    import semclust

    missing = [n for n in FILES if not (args.stores / f"{n}.semclust").is_dir()]
    if missing or not args.data.is_dir():
        print(f"need {args.data} and the stores {missing} under {args.stores}: run bench_themes.py first",
              file=sys.stderr)  # fmt: skip
        return 2
    label = labels(args.data)
    stores: dict[str, Any] = {}
    ids: dict[str, list[str]] = {}
    for name in FILES:
        store = semclust.Store.open(args.stores / f"{name}.semclust")
        v, _, d = store.embeddings()
        docs = {x.id: x for x in store.documents()}
        stores[name] = (np.asarray(v), list(d), docs)
        ids[name] = list(docs)
    stores["words"] = store.embedder.embed  # the same model in every store
    results = {}
    for name, parts in corpora(ids, label).items():
        results[name] = run(parts, stores, label)
        print(f"[{name}] {json.dumps({k: v for k, v in results[name].items() if k != 'names'})}", flush=True)
    print(table(results))
    for name, r in results.items():
        print(f"\n{name}: {'; '.join(r['names'][:12])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = {"command": "python " + " ".join(sys.argv), "corpora": results}
    args.out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
