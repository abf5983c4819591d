"""Mixed load on a real `kgrel serve`: predict alone, then predict mixed with small ingests and SPARQL.

    python -m bench.load [--clients 8] [--seconds 30] [--idle 30] [--model DIR] [--store oxigraph] [--workers N]

Starts the server on the demo graph (as `make run` does) and runs, from `--clients` threads:
- predict-only: single-sentence /predict requests;
- mixed: 70% /predict, 10% ingests of 10 new triples into a named graph, 20% small SPARQL SELECTs.
Reports requests/s and /predict p50/p99 for both, the mixed/predict-only ratios (the targets: at least
0.7 of the throughput, predict p99 under 2x), and the server's resident memory after warm-up, after
the load and after `--idle` seconds of quiet (target: back within 10% of the post-warm-up level).
Ratios travel between machines better than absolute figures; the last line is one JSON object.

With `--store oxigraph` the server's store is an Oxigraph SPARQL server this script starts (the `oxigraph`
binary beside this Python), and `--workers N` serves from N processes over it (memory: all of them);
it also reports the median time of one read of the version stamp, which each request pays.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.common import ROOT, hardware, sentences

SPARQL = ["SELECT ?s ?l WHERE { ?s rdfs:label ?l } LIMIT 10",
          "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?c }",
          "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY DESC(?n) LIMIT 5"]


def start_server(data_dir: Path, port: int, model: str | None, store: str | None = None,
                 workers: int = 1) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **({"KGREL_MODEL": model} if model else {})}
    where = ["--store", store, "--workers", str(workers)] if store else []
    server = subprocess.Popen([sys.executable, "-m", "kgrel.app.cli", "serve", "--port", str(port), "--data-dir",
                               str(data_dir), "--load-demo", *where], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            if time.time() > deadline or server.poll() is not None:
                raise
        time.sleep(0.5)


class Run:
    """Requests of one phase: latencies per kind, errors."""

    def __init__(self):
        self.latencies: dict[str, list[float]] = {"predict": [], "ingest": [], "sparql": []}
        self.errors = 0
        self.lock = threading.Lock()

    def record(self, kind: str, ms: float, ok: bool) -> None:
        with self.lock:
            self.latencies[kind].append(ms)
            self.errors += not ok


def phase(url: str, bodies: list[dict], clients: int, seconds: float, mixed: bool) -> dict:
    run = Run()
    stop = time.monotonic() + seconds
    counter = itertools.count()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < stop:
                draw = rng.random() if mixed else 0.0
                start = time.perf_counter()
                if draw < 0.7:
                    kind, r = "predict", http.post("/predict", json=rng.choice(bodies))
                elif draw < 0.8:
                    n = next(counter)
                    triples = "".join(f"<urn:load:{n}:{i}> <urn:load:p> \"{i}\" .\n" for i in range(10))
                    kind, r = "ingest", http.post("/graph/triples", params={"graph": "urn:load:graph"},
                                                  content=triples, headers={"Content-Type": "application/n-triples"})
                else:
                    kind, r = "sparql", http.get("/graph/sparql", params={"query": rng.choice(SPARQL)})
                run.record(kind, (time.perf_counter() - start) * 1000, r.status_code < 400)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    total = sum(len(v) for v in run.latencies.values())

    def pct(values: list[float], q: float) -> float | None:
        return round(statistics.quantiles(values, n=100)[q - 1], 1) if len(values) >= 2 else None

    out = {"requests": total, "requests_per_s": round(total / elapsed, 2), "errors": run.errors}
    for kind, values in run.latencies.items():
        if values:
            out[kind] = {"n": len(values), "p50_ms": pct(values, 50), "p99_ms": pct(values, 99)}
    return out


def start_oxigraph(folder: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(Path(sys.executable).parent / "oxigraph"), "serve", "--location", str(folder),
                             "--bind", f"127.0.0.1:{port}", "--union-default-graph"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/query", params={"query": "ASK {}"}, timeout=2)
            return proc
        except httpx.HTTPError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def stamp_read_ms(store_url: str, reads: int = 200) -> float:
    """What each request pays over a shared store to see other workers' writes: one read of the stamp."""
    from kgrel.kg import stamp
    from kgrel.kg.store import open_store

    store = open_store(store_url)
    try:
        times = []
        for _ in range(reads):
            start = time.perf_counter()
            stamp.read(store)
            times.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(times), 2)
    finally:
        store.close()


def rss_mib(proc: subprocess.Popen) -> float:
    """Resident memory of the server and its worker processes (uvicorn's with --workers)."""
    root = psutil.Process(proc.pid)
    return round(sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--model", help="relation model folder (default: the shipped one)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "tiny_fewrel.json")
    parser.add_argument("--store", choices=["embedded", "oxigraph"], default="embedded")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (with --store oxigraph)")
    args = parser.parse_args()

    bodies = [{"text": x.text, "head": {"start": x.head.start, "end": x.head.end},
               "tail": {"start": x.tail.start, "end": x.tail.end}} for x in sentences(args.data, 64)]
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="kgrel-load-")) / "var"
    sparql, store = None, None
    if args.store == "oxigraph":
        sparql = start_oxigraph(data_dir.parent / "oxigraph", args.port + 1)
        store = f"http://127.0.0.1:{args.port + 1}/query"
    server = start_server(data_dir, args.port, args.model, store, args.workers)
    url = f"http://127.0.0.1:{args.port}"
    try:
        phase(url, bodies, args.clients, min(10.0, args.seconds), mixed=True)  # warm-up: every path once
        warm = rss_mib(server)
        alone = phase(url, bodies, args.clients, args.seconds, mixed=False)
        mixed = phase(url, bodies, args.clients, args.seconds, mixed=True)
        loaded = rss_mib(server)
        stamp_ms = stamp_read_ms(store) if store else None
        time.sleep(args.idle)
        idle = rss_mib(server)
    finally:
        server.terminate()
        server.wait(timeout=60)
        if sparql is not None:
            sparql.terminate()
            sparql.wait(timeout=60)
    result = {
        "hardware": hardware(), "load_average": os.getloadavg(), "clients": args.clients, "seconds": args.seconds,
        "store": args.store, "workers": args.workers,
        "predict_only": alone, "mixed": mixed,
        "throughput_ratio": round(mixed["requests_per_s"] / alone["requests_per_s"], 3),
        "predict_p99_ratio": round(mixed["predict"]["p99_ms"] / alone["predict"]["p99_ms"], 3),
        "stamp_read_p50_ms": stamp_ms,
        "rss_mib": {"after_warm_up": warm, "after_load": loaded, "after_idle": idle,
                    "idle_vs_warm": round(idle / warm, 3)},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
