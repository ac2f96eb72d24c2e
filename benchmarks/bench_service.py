"""Load test of the HTTP service on loopback: /related and /search on the BBC store.

Builds the store once (reused afterwards), starts ``semclust.server.app.serve`` in a subprocess on
127.0.0.1, then runs N concurrent async httpx clients for a fixed time per scenario and reports
requests/s, p50/p90/p99 latency and errors (must be 0; the exit status is 1 otherwise).

    python benchmarks/bench_service.py --limit 200 --seconds 5          # quick check
    python benchmarks/bench_service.py --clients 16 --seconds 20       # the README figures

Scenarios: ``related_uncached`` asks each article once (every reply computed), ``related`` asks
random articles (mostly served from the cache), ``search`` sends article titles as queries
(always computed: one query embedding each), ``search_with_writer`` does the same while a writer
posts ``--writer-rate`` new articles a second (in batches of ``--writer-batch``). The service runs
on a temporary copy of the store, so the writes leave the reused store as it was. The check:
``/search`` p99 with the writer within 2x of without (``--max-writer-slowdown``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bbc" / "bbc.jsonl.gz"
DEFAULT_STORE = ROOT / "benchmarks" / "results" / "bbc.semclust"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "bench_service.json"
WRITER_KEY = "bench-writer-key"


def build_store(data: Path, store_dir: Path, limit: int | None) -> dict[str, Any]:
    import semclust

    if (store_dir / "manifest.json").exists():
        with semclust.Store.open(store_dir, create=False) as store:
            print(f"reusing {store_dir}: {len(store)} articles", flush=True)
            return store.info()
    if not data.exists():
        sys.exit(f"no data at {data}; pass --data PATH (BBC: ../shared/data/bbc/bbc.jsonl.gz)")
    started = time.perf_counter()
    docs = list(itertools.islice(semclust.read(data), limit))
    with semclust.Store.open(store_dir, progress=True) as store:
        report = store.add(docs)
        print(f"built {store_dir}: {report} ({time.perf_counter() - started:.0f}s)", flush=True)
        return store.info()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store_dir: Path, port: int, max_k: int) -> subprocess.Popen[bytes]:
    code = (
        "from semclust.server.app import serve\n"
        f"serve({str(store_dir)!r}, host='127.0.0.1', port={port}, log_level='warning', max_k={max_k}, "
        f"api_key={WRITER_KEY!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SEMCLUST_API_KEY"}  # read-only service
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> dict[str, Any]:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with status {proc.returncode}")
        try:
            r = httpx.get(f"{base}/health", timeout=2)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit(f"the server did not answer {base}/health within {timeout:.0f}s")


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, max(0, round(q / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[i]


class Writer:
    """Posts ``batch`` new articles (edited copies of stored texts) every ``batch / rate`` s."""

    def __init__(self, texts: list[str], rate: float, batch: int, seed: int) -> None:
        self.texts, self.rate, self.batch = texts, rate, batch
        self.rng = random.Random(seed)
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.articles = 0

    async def run(self, base: str, deadline: float) -> None:
        import httpx

        period = self.batch / self.rate
        n = 0
        async with httpx.AsyncClient(base_url=base, timeout=120, headers={"X-API-Key": WRITER_KEY}) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                docs = []
                for _ in range(self.batch):
                    n += 1
                    text = f"{self.rng.choice(self.texts)} Update number {n} of the bench writer."
                    docs.append({"id": f"bench-writer/{n}", "title": f"Bench article {n}", "text": text})
                try:
                    r = await http.post("/documents", json=docs)
                    if r.status_code != 200:
                        self.errors.append(f"POST: HTTP {r.status_code} {r.text[:200]}")
                    else:
                        self.articles += len(docs)
                except httpx.HTTPError as err:
                    self.errors.append(f"POST: {err!r}")
                self.latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(max(0.0, period - (time.perf_counter() - started)))

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "posts": len(lat), "articles": self.articles,
            "articles_per_s": round(self.articles / seconds, 1) if seconds else 0.0,
            "post_p50_ms": round(percentile(lat, 50), 1), "post_max_ms": round(lat[-1], 1) if lat else None,
            "errors": len(self.errors), "first_errors": self.errors[:5],
        }


async def run_scenario(
    base: str, name: str, next_path: Callable[[], str | None], clients: int, seconds: float,
    writer: Writer | None = None,
) -> dict[str, Any]:
    """``clients`` tasks send GETs back to back until ``seconds`` pass or paths run out (while
    ``writer``, if given, posts articles)."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < deadline:
                path = next_path()
                if path is None:
                    return
                t0 = time.perf_counter()
                try:
                    r = await http.get(path)
                    ok = r.status_code == 200 and r.json()["results"] is not None
                    if not ok:
                        errors.append(f"{path}: HTTP {r.status_code}")
                except (httpx.HTTPError, ValueError, KeyError) as err:
                    errors.append(f"{path}: {err!r}")
                latencies.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        tasks = [client() for _ in range(clients)] + ([writer.run(base, deadline)] if writer else [])
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    lat = sorted(latencies)
    out = {
        "scenario": name, "requests": len(lat), "seconds": round(elapsed, 2),
        "requests_per_s": round(len(lat) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(lat, 50), 2), "p90_ms": round(percentile(lat, 90), 2),
        "p99_ms": round(percentile(lat, 99), 2), "max_ms": round(lat[-1], 2) if lat else None,
        "errors": len(errors) + (len(writer.errors) if writer else 0), "first_errors": errors[:5],
    }
    if writer is not None:
        out["writer"] = writer.summary(elapsed)
    return out


def print_table(results: list[dict[str, Any]], info: dict[str, Any], args: argparse.Namespace) -> None:
    header = f"{'scenario':<20}{'requests':>9}{'req/s':>9}" + "".join(
        f"{c:>9}" for c in ("p50 ms", "p90 ms", "p99 ms")) + f"{'errors':>8}"
    print(f"\n{info['articles']} articles, {info['chunks']} chunks; {args.clients} clients, "
          f"{args.seconds:g}s per scenario, k={args.k}, {os.cpu_count()} CPUs")
    print(header)
    for r in results:
        print(f"{r['scenario']:<20}{r['requests']:>9}{r['requests_per_s']:>9}{r['p50_ms']:>9}"
              f"{r['p90_ms']:>9}{r['p99_ms']:>9}{r['errors']:>8}")
        if "writer" in r:
            w = r["writer"]
            print(f"{'':<20}writer: {w['articles']} articles in {w['posts']} POSTs "
                  f"({w['articles_per_s']}/s), POST p50 {w['post_p50_ms']} ms, max {w['post_max_ms']} ms")


def writer_check(results: list[dict[str, Any]], max_slowdown: float) -> dict[str, Any]:
    """``/search`` p99 with the writer against without it."""
    by_name = {r["scenario"]: r for r in results}
    alone, loaded = by_name["search"]["p99_ms"], by_name["search_with_writer"]["p99_ms"]
    ratio = loaded / alone if alone else float("inf")
    return {"search_p99_ms": alone, "search_with_writer_p99_ms": loaded, "ratio": round(ratio, 2),
            "max_ratio": max_slowdown, "ok": ratio <= max_slowdown}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="articles (JSONL, CSV, folder)")
    ap.add_argument("--store", type=Path, default=DEFAULT_STORE, help="store folder (reused if present)")
    ap.add_argument("--limit", type=int, default=None, help="index only the first N articles")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds per scenario")
    ap.add_argument("--k", type=int, default=5, help="k of each request")
    ap.add_argument("--writer-rate", type=float, default=10.0, help="articles a second the writer posts")
    ap.add_argument("--writer-batch", type=int, default=10, help="articles per POST of the writer")
    ap.add_argument("--max-writer-slowdown", type=float, default=2.0,
                    help="largest allowed /search p99 ratio with the writer to without")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    return ap.parse_args(argv)


def run_all(args: argparse.Namespace, base: str, ids: list[str], titles: list[str],
            texts: list[str]) -> list[dict[str, Any]]:
    from urllib.parse import quote

    rng = random.Random(args.seed)
    unique: Iterator[str] = iter(rng.sample(ids, len(ids)))

    def search_path() -> str:
        return f"/search?q={quote(rng.choice(titles))}&k={args.k}"

    scenarios: list[tuple[str, Callable[[], str | None], Writer | None]] = [
        ("related_uncached", lambda: (f"/related/{quote(i, safe='')}?k={args.k}"
                                      if (i := next(unique, None)) is not None else None), None),
        ("related", lambda: f"/related/{quote(rng.choice(ids), safe='')}?k={args.k}", None),
        ("search", search_path, None),
        ("search_with_writer", search_path, Writer(texts, args.writer_rate, args.writer_batch, args.seed)),
    ]
    results = []
    for name, next_path, writer in scenarios:
        res = asyncio.run(run_scenario(base, name, next_path, args.clients, args.seconds, writer))
        results.append(res)
        print(f"  {name}: {res['requests']} requests, {res['errors']} errors", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = build_store(args.data, args.store, args.limit)
    import semclust

    with semclust.Store.open(args.store, create=False) as store:
        ids = store.ids()
        docs = store.documents()
    titles = [d.title for d in docs if d.title][:2000]
    texts = [d.text[:2000] for d in docs][:2000]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        served = Path(tmp) / "served.semclust"  # the writer's articles go to this copy
        shutil.copytree(args.store, served)
        proc = start_server(served, port, max(100, args.k))
        try:
            t0 = time.perf_counter()
            health = wait_healthy(base, proc)
            print(f"server up at {base} in {time.perf_counter() - t0:.1f}s: {health}", flush=True)
            results = run_all(args, base, ids, titles, texts)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    print_table(results, info, args)
    check = writer_check(results, args.max_writer_slowdown)
    print(f"/search p99 with the writer / without: {check['ratio']}x (at most {check['max_ratio']}x: "
          f"{'ok' if check['ok'] else 'FAILED'})")
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "store": {"path": str(args.store), "articles": info["articles"], "chunks": info["chunks"]},
        "clients": args.clients, "seconds": args.seconds, "k": args.k,
        "writer": {"rate": args.writer_rate, "batch": args.writer_batch},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "semclust": semclust.__version__,
        "results": results,
        "writer_check": check,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if any(r["errors"] for r in results) or not check["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
