"""Benchmark of the embedding backends: speed, quality, cold start, memory, retrieval.

Usage (from the project root)::

    flock /tmp/semclust-bench.lock python benchmarks/bench_embed.py --data ../shared/data \
        --out benchmarks/results/embed.json
    python benchmarks/bench_embed.py --quick        # a small run (a few minutes)

Backends: torch float32 (sentence-transformers), onnx float32 and onnx-int8 with semclust's
defaults, then rows that add one optimisation at a time to onnx-int8 (steps 0-6, from
onnxruntime's defaults to semclust's) and alternatives to the defaults. In one run, each row:

* texts/s on BBC passages cut to 200 word pieces and on STS-B test sentences, tokens/s
  (model tokens, special tokens included, padding excluded) and texts per CPU-second; the
  rows are timed round-robin in ``--repeat`` slices of the texts, in a shuffled order each
  round, so that all rows share the machine's changing load alike; rates are totals;
* STS-B test Spearman (cosine against the human score) and the mean cosine to the torch
  vectors of the same texts;
* cold start (main rows): a fresh process, from its start to the first vector, with the export
  already cached (median of 3), and the peak RSS of a process that then embeds the passages;
* BBC related precision@10 through the store (main rows): a store per backend
  (``Store.open(path, model=get_embedder(backend=...), cache=False)``), the share of each
  article's 10 ``related`` hits with its label, averaged over the articles.

Prints a table and writes JSON (default ``benchmarks/results/embed.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PASSAGE_PIECES = 200

# (label, backend, options, main): main rows also get cold start, RSS and store P@10
ORT_DEFAULTS: dict[str, Any] = {  # onnxruntime's defaults and a plain batch loop
    "batch_size": 32, "batch_tokens": None, "sort_by_length": False,
    "parallel_batches": False, "spinning": True,
}
STEP2 = {**ORT_DEFAULTS, "sort_by_length": True}
STEP3 = {**STEP2, "batch_size": 64, "batch_tokens": 1024}
STEP4 = {**STEP3, "spinning": False}
STEP5 = {**STEP4, "parallel_batches": True}
ROWS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("torch fp32", "torch", {}, True),
    ("onnx fp32", "onnx", {}, True),
    ("onnx-int8 (default)", "onnx-int8", {}, True),
    ("torch fp32, 1 thread", "torch", {"torch_threads": 1}, False),
    ("int8 step 0: per-tensor weights", "onnx-int8", {**ORT_DEFAULTS, "per_channel": False}, False),
    ("int8 step 1: per-channel weights", "onnx-int8", ORT_DEFAULTS, False),
    ("int8 step 2: + length-sorted", "onnx-int8", STEP2, False),
    ("int8 step 3: + 1024-token batches", "onnx-int8", STEP3, False),
    ("int8 step 4: + no spinning", "onnx-int8", STEP4, False),
    ("int8 step 5: + parallel batches", "onnx-int8", STEP5, False),
    ("int8 step 6: + 1 text/batch (default)", "onnx-int8", {**STEP5, "batch_size": 1}, False),
    ("int8 alt: 1 thread", "onnx-int8", {"threads": 1}, False),
    ("int8 alt: intra-op threads", "onnx-int8", {"parallel_batches": False}, False),
    ("int8 alt: tokenise ahead", "onnx-int8", {"tokenize_ahead": True}, False),
    ("int8 alt: graph opt basic", "onnx-int8", {"graph_optimization": "basic"}, False),
    ("int8 alt: no memory arena", "onnx-int8", {"memory_arena": False}, False),
    ("onnx fp32, ORT defaults", "onnx", ORT_DEFAULTS, False),
    ("onnx fp32, 1 thread", "onnx", {"threads": 1}, False),
    ("onnx fp32, 1024-token batches", "onnx", {"batch_tokens": 1024}, False),
    ("onnx fp32, 2048-token batches", "onnx", {"batch_tokens": 2048}, False),
]


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def passages(data: Path, n: int) -> list[str]:
    """BBC article texts cut to their first 200 word pieces (articles long enough only)."""
    from tokenizers import Tokenizer

    from semclust.embeddings.model_files import bundled_model_path

    tok = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    out = []
    for r in load_jsonl(data / "bbc" / "bbc.jsonl.gz"):
        enc = tok.encode(r["text"], add_special_tokens=False)
        if len(enc.ids) >= PASSAGE_PIECES:
            out.append(r["text"][: enc.offsets[PASSAGE_PIECES - 1][1]])
        if len(out) == n:
            break
    return out


def stsb(data: Path) -> tuple[list[str], list[str], np.ndarray]:
    rows = load_jsonl(data / "stsb" / "stsb-test.jsonl.gz")
    return [r["s1"] for r in rows], [r["s2"] for r in rows], np.array([r["score"] for r in rows])


def model_tokens(texts: list[str]) -> int:
    from tokenizers import Tokenizer

    from semclust.embeddings.model_files import bundled_model_path

    tok = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tok.enable_truncation(256)  # the model's max_seq_length; tokenizer.json says 128
    tok.no_padding()  # tokenizer.json pads to 128
    return sum(len(e.ids) for e in tok.encode_batch(texts))


def make(backend: str, options: dict[str, Any]) -> Any:
    from semclust.embeddings import get_embedder

    return get_embedder(backend=backend, **{k: v for k, v in options.items() if k != "torch_threads"})


@contextlib.contextmanager
def torch_threads(options: dict[str, Any]) -> Iterator[None]:
    """Run a torch row with ``options["torch_threads"]`` threads (torch's setting is global)."""
    n = options.get("torch_threads")
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry over from the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        # average ranks of ties
        _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return (sums / counts)[inv]

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


# -- subprocess workers ---------------------------------------------------------------------


def cold_worker(backend: str, data: Path, n: int) -> None:
    """Process start to first vector, then the peak RSS of embedding the passages."""
    t0 = float(os.environ["BENCH_T0"])
    import semclust

    emb = semclust.get_embedder(backend=backend)
    emb.embed(["The first vector."])
    first = time.time() - t0
    emb.embed(passages(data, n))
    rss = peak_rss_mb()
    mods = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
    print(json.dumps({"first_vector_s": first, "peak_rss_mb": rss, "heavy_imports": mods}))


def cold_start(backend: str, data: Path, n: int) -> dict[str, Any]:
    runs = []
    for _ in range(3):
        env = {**os.environ, "BENCH_T0": repr(time.time())}
        out = subprocess.run(
            [sys.executable, __file__, "--cold-worker", backend, "--data", str(data), "--passages", str(n)],
            capture_output=True, text=True, env=env, check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "cold_start_s": round(statistics.median(r["first_vector_s"] for r in runs), 3),
        "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1),
        "heavy_imports": runs[0]["heavy_imports"],
    }


def p10_worker(backend: str, data: Path, limit: int | None, result: Path) -> None:
    import semclust
    from semclust.embeddings import get_embedder

    records = load_jsonl(data / "bbc" / "bbc.jsonl.gz")
    if limit and limit < len(records):  # a random sample: the file is ordered by label
        pick = np.random.default_rng(0).choice(len(records), size=limit, replace=False)
        records = [records[i] for i in sorted(pick)]
    for r in records:
        r.setdefault("title", "")
    label = {r["id"]: r["label"] for r in records}
    with tempfile.TemporaryDirectory(prefix="semclust-bench-embed-") as tmp:
        store = semclust.Store.open(Path(tmp) / "s", model=get_embedder(backend=backend), cache=False)
        store.embedder.embed(["warm up"])
        t0 = time.perf_counter()
        report = store.add(semclust.read(records))
        secs = time.perf_counter() - t0
        precs = []
        for r in records:
            hits = store.related(r["id"], k=10)
            precs.append(sum(label[h.doc_id] == r["label"] for h in hits) / 10)
        store.close()
    result.write_text(json.dumps({
        "related_p@10": round(float(np.mean(precs)), 4),
        "index_articles_per_s": round(len(records) / secs, 2),
        "index_chunks_per_s": round(report.chunks / secs, 2),
        "chunks": report.chunks,
        "index_peak_rss_mb": round(peak_rss_mb(), 1),
    }))


def related_p10(backend: str, data: Path, limit: int | None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = Path(f.name)
    cmd = [sys.executable, __file__, "--p10-worker", backend, "--data", str(data)]
    cmd += ["--result-file", str(result)]
    if limit:
        cmd += ["--p10-limit", str(limit)]
    subprocess.run(cmd, check=True)
    out: dict[str, Any] = json.loads(result.read_text())
    result.unlink()
    return out


# -- main -----------------------------------------------------------------------------------


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.4f}" if abs(v) < 1.5 else f"{v:.2f}"
    return str(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = [
        ("passages/s", "passages_per_s"),
        ("pass tok/s", "passage_tokens_per_s"),
        ("sents/s", "sentences_per_s"),
        ("sent tok/s", "sentence_tokens_per_s"),
        ("pass/cpu-s", "passages_per_cpu_s"),
        ("sent/cpu-s", "sentences_per_cpu_s"),
        ("x torch", "speedup_tokens_vs_torch"),
        ("STS-B rho", "stsb_spearman"),
        ("cos torch", "cos_to_torch"),
        ("cold s", "cold_start_s"),
        ("RSS MB", "peak_rss_mb"),
        ("P@10", "related_p@10"),
        ("idx art/s", "index_articles_per_s"),
    ]
    width = max(len(r["label"]) for r in rows) + 2
    print("".ljust(width) + "".join(c[0].rjust(12) for c in cols))
    for r in rows:
        print(r["label"].ljust(width) + "".join(fmt(r.get(k)).rjust(12) for _, k in cols))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed.json")
    parser.add_argument("--quick", action="store_true", help="small sets, 2 repeats, P@10 on 300 articles")
    parser.add_argument("--passages", type=int, help="BBC passages to time (default 512; quick 96)")
    parser.add_argument("--sentences", type=int, help="STS-B sentences to time (default 2000; quick 400)")
    parser.add_argument("--repeat", type=int, help="timing rounds (default 8; quick 2)")
    parser.add_argument(
        "--p10-limit", type=int, help="BBC articles for P@10, a random sample (default all; quick 300)"
    )
    parser.add_argument("--rows", help="comma-separated row numbers to run (default all)")
    parser.add_argument("--cold-worker", help=argparse.SUPPRESS)
    parser.add_argument("--p10-worker", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_worker:
        cold_worker(args.cold_worker, args.data, args.passages or 96)
        return
    if args.p10_worker:
        p10_worker(args.p10_worker, args.data, args.p10_limit, args.result_file)
        return
    if not (args.data / "bbc" / "bbc.jsonl.gz").exists():
        sys.exit(f"bench_embed: no BBC data under {args.data} (see ../shared/data/README.md)")
    n_pass = args.passages or (96 if args.quick else 512)
    n_sent = args.sentences or (400 if args.quick else 2000)
    repeat = args.repeat or (2 if args.quick else 8)
    p10_limit = args.p10_limit or (300 if args.quick else None)
    rows = ROWS if not args.rows else [ROWS[int(i)] for i in args.rows.split(",")]

    texts = passages(args.data, n_pass)
    s1, s2, scores = stsb(args.data)
    sentences = list(dict.fromkeys(s1 + s2))[:n_sent]
    pass_tokens, sent_tokens = model_tokens(texts), model_tokens(sentences)
    print(
        f"{len(texts)} passages ({pass_tokens} tokens), {len(sentences)} sentences ({sent_tokens} tokens), "
        f"{repeat} rounds",
        file=sys.stderr,
        flush=True,
    )

    embedders = []
    for _label, backend, options, _ in rows:
        emb = make(backend, options)
        with torch_threads(options):
            emb.embed(texts[:4])  # export if needed, load, warm up
        embedders.append(emb)
    # Round-robin in small slices, in a shuffled order each round: every row sees the same
    # share of the machine's (shared, changing) load. Rates are totals over all rounds.
    wall = np.zeros((len(rows), 2))
    cpu = np.zeros((len(rows), 2))
    vecs = [
        [np.zeros((len(items), e.dimension), np.float32) for items in (texts, sentences)] for e in embedders
    ]
    rng = np.random.default_rng(0)
    slices = [np.array_split(np.arange(len(items)), repeat) for items in (texts, sentences)]
    for rnd in range(repeat):
        for i in rng.permutation(len(rows)):
            with torch_threads(rows[i][2]):
                for k, items in enumerate((texts, sentences)):
                    part = slices[k][rnd]
                    t, c = time.perf_counter(), time.process_time()
                    vecs[i][k][part] = embedders[i].embed([items[j] for j in part])
                    wall[i, k] += time.perf_counter() - t
                    cpu[i, k] += time.process_time() - c
        print(f"timing round {rnd + 1}/{repeat} done", file=sys.stderr, flush=True)

    ref = next((i for i, r in enumerate(rows) if r[1] == "torch" and not r[2]), None)
    all_tokens = pass_tokens + sent_tokens
    results: list[dict[str, Any]] = []
    for i, (label, backend, options, _main) in enumerate(rows):
        emb = embedders[i]
        with torch_threads(options):
            a, b = emb.embed(s1), emb.embed(s2)
        row: dict[str, Any] = {
            "label": label,
            "backend": backend,
            "options": options,
            "fingerprint": emb.fingerprint,
            "passages_per_s": round(len(texts) / wall[i, 0], 1),
            "passage_tokens_per_s": round(pass_tokens / wall[i, 0]),
            "sentences_per_s": round(len(sentences) / wall[i, 1], 1),
            "sentence_tokens_per_s": round(sent_tokens / wall[i, 1]),
            "tokens_per_s": round(all_tokens / wall[i].sum()),
            "passages_per_cpu_s": round(len(texts) / cpu[i, 0], 1),
            "sentences_per_cpu_s": round(len(sentences) / cpu[i, 1], 1),
            "stsb_spearman": round(spearman((a * b).sum(axis=1), scores), 4),
        }
        if ref is not None:
            cos_p = (vecs[i][0] * vecs[ref][0]).sum(1)
            both = np.concatenate([cos_p, (vecs[i][1] * vecs[ref][1]).sum(1)])
            row["cos_to_torch"] = round(float(both.mean()), 4)
            row["cos_to_torch_passages"] = round(float(cos_p.mean()), 4)
            row["cos_to_torch_min"] = round(float(both.min()), 4)
            row["speedup_tokens_vs_torch"] = round(wall[ref].sum() / wall[i].sum(), 2)
        results.append(row)
    del embedders
    for row, (label, backend, _options, main_row) in zip(results, rows):
        if not main_row:
            continue
        print(f"cold start and memory: {label}", file=sys.stderr, flush=True)
        row.update(cold_start(backend, args.data, n_pass))
        print(f"store and related P@10: {label}", file=sys.stderr, flush=True)
        row.update(related_p10(backend, args.data, p10_limit))

    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average": os.getloadavg(),
        "passages": len(texts),
        "passage_tokens": pass_tokens,
        "sentences": len(sentences),
        "sentence_tokens": sent_tokens,
        "rounds": repeat,
        "p10_articles": p10_limit or "all",
    }
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
