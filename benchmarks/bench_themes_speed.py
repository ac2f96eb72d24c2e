"""The themes stage of this checkout against another source tree, on the same vectors.

    git worktree add /tmp/base <commit>            # the version to compare with
    python benchmarks/bench_themes_speed.py --against /tmp/base --repeats 2

For each corpus (the stores ``bench_themes.py`` builds under ``--stores``), the article vectors
and texts are written once to a temporary folder; then ``ThemeModel().fit(vectors, ids, texts)``
(with the store's embedder for naming, where the version takes ``word_vectors``) runs in a fresh
process per fit, the two versions alternately, ``--repeats`` times. Prints seconds per fit and
the ratio (this checkout / the other) per repeat, and writes JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIT = r"""
import inspect, json, sys, time
root, folder = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
import numpy as np
import semclust
from semclust.themes import ThemeModel
assert semclust.__file__.startswith(root), semclust.__file__
X = np.load(folder + "/X.npy")
d = json.loads(open(folder + "/corpus.json", encoding="utf-8").read())
kw = {}
if "word_vectors" in inspect.signature(ThemeModel.fit).parameters:
    embed = semclust.get_embedder().embed
    embed(["warm up"])
    kw["word_vectors"] = lambda words: np.asarray(embed(list(words)), dtype=np.float32)
started = time.perf_counter()
model = ThemeModel().fit(X, d["ids"], d["texts"], **kw)
print(json.dumps({"seconds": time.perf_counter() - started, "themes": len(model.themes_),
                  "stages": getattr(model, "timings_", None)}))
"""


def export(store: Path, folder: Path) -> None:
    import numpy as np

    import semclust

    st = semclust.Store.open(store)
    X, _, ids = st.embeddings()
    docs = {d.id: d for d in st.documents()}
    texts = {i: f"{docs[i].title}\n{docs[i].text}" for i in dict.fromkeys(ids)}
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "X.npy", np.asarray(X))
    (folder / "corpus.json").write_text(json.dumps({"ids": list(ids), "texts": texts}), encoding="utf-8")


def fit(root: Path, folder: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", FIT, str(root), str(folder)], capture_output=True, text=True,
                         check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--against", type=Path, required=True, help="source tree of the other version")
    p.add_argument("--stores", type=Path, default=ROOT / "benchmarks" / "results" / "stores")
    p.add_argument("--corpora", default="bbc,reuters")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    results: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora.split(","):
            store = args.stores / f"{corpus}.semclust"
            if not store.exists():
                print(f"no store {store}: run bench_themes.py first (or pass --stores)", file=sys.stderr)
                return 1
            folder = Path(tmp) / corpus
            export(store, folder)
            for r in range(args.repeats):
                other = fit(args.against.resolve(), folder)
                ours = fit(ROOT, folder)
                row = {"repeat": r, "ours_s": round(float(ours["seconds"]), 2),  # type: ignore[arg-type]
                       "other_s": round(float(other["seconds"]), 2),  # type: ignore[arg-type]
                       "ours_themes": ours["themes"], "other_themes": other["themes"]}
                row["ratio"] = round(row["ours_s"] / row["other_s"], 2)  # type: ignore[operator]
                results.setdefault(corpus, []).append(row)
                print(f"{corpus:8s} repeat {r}: ours {row['ours_s']} s, other {row['other_s']} s, "
                      f"ratio {row['ratio']}×", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
