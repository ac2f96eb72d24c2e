"""Start-up times of whole processes: import, ``--help``, a search, the service's first answer.

Usage (from the project root)::

    python benchmarks/bench_startup.py --data ../shared/data --out benchmarks/results/startup.json

Each figure is the median (and min/max) of ``--runs`` fresh processes, measured from just
before the process is started to the moment it has printed its answer:

* ``python -c "import semclust"``;
* ``semclust --help``;
* ``semclust search "..." --store BBC`` on an existing store of BBC News (built once with the
  default backend into ``benchmarks/results/stores/bbc-default.semclust`` and reused);
* the same with ``--json``;
* ``semclust serve --store BBC``: process start to the first ``/related`` answer (polling
  ``/health`` first), then the latency of that first ``/related`` on its own; the service must
  not stall on a compile.

Targets (issue 7): import under 0.3 s, ``--help`` under 0.5 s, search under 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("semclust")


def timed(argv: list[str], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return summary(times)


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_first_related(store: Path, doc_id: str, runs: int) -> dict[str, Any]:
    to_answer, first = [], []
    for _ in range(runs):
        port = free_port()
        t = time.perf_counter()
        proc = subprocess.Popen(
            [str(EXE), "serve", "--store", str(store), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=5).read()
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise SystemExit("semclust serve exited early") from None
                    time.sleep(0.02)
            t1 = time.perf_counter()
            urllib.request.urlopen(f"{base}/related/{doc_id}?k=5", timeout=60).read()
            t2 = time.perf_counter()
            to_answer.append(t2 - t)
            first.append(t2 - t1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"start_to_first_related": summary(to_answer), "first_related_alone": summary(first)}


def ensure_store(data: Path) -> tuple[Path, str]:
    import semclust

    path = ROOT / "benchmarks" / "results" / "stores" / "bbc-default.semclust"
    store = semclust.Store.open(path, cache=False)
    if len(store) == 0:
        store.add(semclust.read(data / "bbc" / "bbc.jsonl.gz"), progress=True)
    doc_id = store.ids()[0]
    store.close()
    return path, doc_id


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    store, doc_id = ensure_store(args.data)
    query = "interest rates and the housing market"
    rows: dict[str, Any] = {
        "import semclust": timed([sys.executable, "-c", "import semclust"], args.runs),
        "semclust --help": timed([str(EXE), "--help"], args.runs),
        "semclust search": timed([str(EXE), "search", query, "--store", str(store)], args.runs),
        "semclust search --json": timed(
            [str(EXE), "search", query, "--store", str(store), "--json"], args.runs
        ),
        "semclust related": timed([str(EXE), "related", doc_id, "--store", str(store)], args.runs),
    }
    serve = serve_first_related(store, doc_id, max(3, args.runs // 2))
    rows["serve: start to first /related"] = serve["start_to_first_related"]
    rows["serve: first /related alone"] = serve["first_related_alone"]
    with open(store / "manifest.json", encoding="utf-8") as f:
        backend = json.load(f)["model"]["backend"]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "backend": backend,
        "runs": args.runs,
        "rows": rows,
    }
    print(f"store: {store} ({backend}); median of {args.runs} fresh processes")
    print(f"{'what':<34}{'median s':>10}{'min s':>8}{'max s':>8}")
    for name, r in rows.items():
        print(f"{name:<34}{r['median_s']:>10.3f}{r['min_s']:>8.3f}{r['max_s']:>8.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
