"""Round trip of a labelling decision: how long the annotator waits after pressing a key.

    python -m bench.labelling_speed [--decisions 20]

Serves the API in-process (FastAPI's TestClient, the shipped model) over the test ontology and eight
composers with their works, opens a session, adds text with enough linked pairs, and times each
decision (accept or reject, alternating), the undo of every fifth, and each refill of suggestions;
the page sends exactly these requests. `--store-examples N` first gives eight biomedical relations N
examples each (`tests/data/tiny_biomed.json`), as in a store a curator has worked in: then every
decision also rebuilds prototypes among more relations with examples. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, hardware

ONTOLOGY = ROOT / "tests" / "data" / "ontology.ttl"
BIOMEDICAL = ROOT / "tests" / "data" / "tiny_biomed.json"
BIOMEDICAL_SIDE_INFO = ROOT / "tests" / "data" / "tiny_biomed_side_info.json"
NAMES = ["Mozart", "Bizet", "Verdi", "Tchaikovsky", "Puccini", "Wagner", "Handel", "Haydn"]
WORKS = ["The Magic Flute", "Carmen", "Aida", "Swan Lake", "Tosca", "Parsifal", "Messiah", "The Creation"]


def corpus() -> tuple[str, str]:
    """Turtle for eight composers and works, and text pairing each work with two composers."""
    ttl = ["@prefix ex: <http://example.org/> .", "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> ."]
    for i, (name, work) in enumerate(zip(NAMES, WORKS, strict=True)):
        ttl.append(f'ex:c{i} rdfs:label "{name}" . ex:w{i} rdfs:label "{work}" .')
    text = " ".join(f"{work} was written by {NAMES[i]}, not by {NAMES[(i + 3) % len(NAMES)]}."
                    for i, work in enumerate(WORKS))
    return "\n".join(ttl), text


def add_biomedical_examples(client, per_relation: int) -> None:
    """Eight biomedical relations with their label, description and `per_relation` examples each."""
    from kgrel.models.relation.fewrel import load_fewrel, load_side_info

    side_info = load_side_info(BIOMEDICAL_SIDE_INFO)
    for rid, items in load_fewrel(BIOMEDICAL).items():
        iri = f"http://example.org/bio/{rid}"
        info = side_info[rid]
        assert client.post("/relations", json={"id": iri, "label": info.label,
                                               "description": info.description}).status_code in (200, 201)
        examples = [{"text": x.text, "head": {"start": x.head.start, "end": x.head.end},
                     "tail": {"start": x.tail.start, "end": x.tail.end}} for x in items[:per_relation]]
        assert client.post(f"/relations/{iri}/examples", json=examples).status_code == 201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--store-examples", type=int, default=0,
                        help="examples of eight other relations in the store first (at most 5 each)")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from kgrel.app.config import Settings
    from kgrel.app.main import create_app

    ttl, text = corpus()
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="kgrel-label-")) / "var")
    with TestClient(create_app(settings)) as c:
        for body in (ONTOLOGY.read_bytes(), ttl.encode()):
            assert c.post("/graph/triples", content=body, headers={"Content-Type": "text/turtle"}).status_code == 200
        if args.store_examples:
            add_biomedical_examples(c, args.store_examples)
        c.post("/relations", json={"id": "ex:composer", "label": "composer", "description": "who wrote the music"})
        sid = c.post("/sessions", json={"relation": "ex:composer", "user": "bench"}).json()["id"]
        c.post(f"/sessions/{sid}/texts", json={"text": text})
        decide, undo, refill = [], [], []
        while len(decide) < args.decisions:
            started = time.perf_counter()
            batch = c.get(f"/sessions/{sid}/suggestions", params={"n": 10}).json()
            refill.append((time.perf_counter() - started) * 1000)
            if not batch:
                break
            for s in batch:
                if len(decide) == args.decisions:
                    break
                url = f"/sessions/{sid}/suggestions/{s['id']}"
                started = time.perf_counter()
                r = c.post(url, json={"decision": "accept" if len(decide) % 2 == 0 else "reject"})
                decide.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
                if len(decide) % 5 == 0:
                    started = time.perf_counter()
                    assert c.post(url + "/undo").status_code == 200
                    undo.append((time.perf_counter() - started) * 1000)
        threshold = c.get("/model/threshold").json()

    def summary(values: list[float]) -> dict:
        ordered = sorted(values)
        return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 1),
                "p90_ms": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 1), "max_ms": round(ordered[-1], 1)}

    print(json.dumps({"hardware": hardware(), "store_examples": args.store_examples, "threshold": threshold,
                      "decision": summary(decide), "undo": summary(undo),
                      "next_suggestions": summary(refill)}))


if __name__ == "__main__":
    main()
