"""How fast /kg/predict-links answers with ULTRA on a CoDEx-M-sized graph (no training).

    python -m bench.predict_links_speed [--codex ../shared/data/codex/codex-m] [--queries 50] [--device auto]

Loads CoDEx-M's training triples (17,050 entities, 51 relations, 185,584 facts) into an embedded store
in a temp dir, serves the API in-process (FastAPI's TestClient), and asks /kg/predict-links?k=10 for
the (head, relation) of `--queries` test triples. Reports the first question after the ingest (which
reads the graph and builds ULTRA's graph of relations) apart from the p50/p90 of the rest, and the
Hits@10 of those answers. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, hardware

WD, WDT = "http://www.wikidata.org/entity/", "http://www.wikidata.org/prop/direct/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codex", type=Path, default=ROOT.parent / "shared" / "data" / "codex" / "codex-m")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from kgrel.app.config import Settings
    from kgrel.app.main import create_app

    def rows(name: str) -> list[list[str]]:
        return [line.split("\t") for line in (args.codex / name).read_text().splitlines() if line.strip()]

    train = rows("train.txt")
    body = "".join(f"<{WD}{h}> <{WDT}{r}> <{WD}{t}> .\n" for h, r, t in train).encode()
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="kgrel-links-")) / "var", device=args.device)
    tests = random.Random(args.seed).sample(rows("test.txt"), args.queries)
    with TestClient(create_app(settings)) as client:
        started = time.perf_counter()
        r = client.post("/graph/triples", content=body, headers={"Content-Type": "application/n-triples"})
        assert r.status_code == 200, r.text
        ingest_s = time.perf_counter() - started
        latencies, hits = [], 0
        for h, rel, t in tests:
            started = time.perf_counter()
            r = client.get("/kg/predict-links", params={"head": f"wd:{h}", "relation": f"wdt:{rel}", "k": 10})
            latencies.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
            hits += any(a["entity"] == WD + t for a in r.json())
    first, rest = latencies[0], sorted(latencies[1:])
    print(json.dumps({"hardware": hardware(), "device": args.device, "facts": len(train),
                      "ingest_s": round(ingest_s, 1), "first_question_ms": round(first, 1),
                      "p50_ms": round(statistics.median(rest), 1), "p90_ms": round(rest[int(0.9 * len(rest))], 1),
                      "queries": len(tests), "hits@10_raw": round(hits / len(tests), 3),
                      "note": "hits@10_raw: unfiltered, tails only; CoDEx-M was in ultra_3g's pre-training"}))


if __name__ == "__main__":
    main()
