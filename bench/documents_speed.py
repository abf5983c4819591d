"""Reading documents: /extract latency per document, and the service next to the raw encoder on the same inputs.

    python -m bench.documents_speed [--docs dev_docs.json] [--documents 60] [--mentions given|found] [--model DIR]

The held-out Re-DocRED documents of the documents protocol (about 8 sentences and 20 entities each), their
entities in the graph and every relation registered, as `kgrel eval documents` sets it up. Measured in one
run on one machine:
- raw: the tokenizer and the encoder's forward pass alone on each document as the service marks it;
- in-process: `ExtractionService.extract` on each document (linking or given mentions, reading, scoring
  every pair against every relation, facts with their passages);
- http: each document POSTed to /extract of a `kgrel serve` subprocess (uvicorn), p50 and p99.
Prints one JSON object last; the ratio to raw holds across machines better than absolute times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import pyoxigraph as ox
import torch

from bench.common import SHARED, hardware, kgrel_server
from kgrel.app.cli.documents import given_mentions, graph_ntriples, register_relations
from kgrel.app.config import Settings
from kgrel.app.services import KgrelService
from kgrel.models.relation.docred import DOCRED_RELATIONS, load_docred, relation_infos, split_documents
from kgrel.models.relation.documents import mark_document


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=str(SHARED / "redocred" / "dev_docs.json"))
    parser.add_argument("--side-info", default=str(SHARED / "fewrel" / "pid2name.json"))
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--mentions", choices=["given", "found"], default="given")
    parser.add_argument("--model", help="relation model folder (default: the shipped one)")
    args = parser.parse_args()

    docs = split_documents(load_docred(args.docs, type_classes=False), 100, 0).dev[:args.documents]
    work = Path(tempfile.mkdtemp(prefix="kgrel-docspeed-"))
    settings = Settings(data_dir=work / "var", model=args.model)
    service = KgrelService(settings)
    service.graph.ingest(graph_ntriples(docs, types=True), ox.RdfFormat.N_TRIPLES)
    register_relations(service, DOCRED_RELATIONS, relation_infos(args.side_info, DOCRED_RELATIONS))
    service.predictions.state()
    extraction, encoder = service.extraction, service.predictions.model.encoder
    bodies = [{"text": d.document.text, **({"mentions": [given_mentions(d)]} if args.mentions == "given" else {})}
              for d in docs]

    def extract(body: dict):
        return extraction.extract([body["text"]], mentions=body.get("mentions"), threshold=None)

    # Raw: each document as the service marks it, one forward pass per request as served.
    read = [extraction.read([b["text"]], b.get("mentions"))[0] for b in bodies]
    marked = [mark_document(r.document).text for r in read]

    def raw(text: str) -> None:
        with torch.inference_mode():
            windows = encoder.tokenize_documents([text])
            encoder.model(input_ids=windows.input_ids, attention_mask=windows.attention_mask)

    for text in marked[:3]:
        raw(text)
    for body in bodies[:3]:
        extract(body)  # warm-up: prototypes, label caches
    raw_s, served_s, facts = [], [], 0
    for text, body in zip(marked, bodies, strict=True):
        start = time.perf_counter()
        raw(text)
        raw_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        facts += len(extract(body))
        served_s.append(time.perf_counter() - start)
    service.close()

    http_s = []
    with kgrel_server(settings.data_dir, 8766, {"KGREL_MODEL": args.model} if args.model else {}) as url, \
            httpx.Client(timeout=120) as client:
        client.post(url + "/extract", json=bodies[0]).raise_for_status()
        for body in bodies:
            start = time.perf_counter()
            client.post(url + "/extract", json=body).raise_for_status()
            http_s.append(time.perf_counter() - start)

    sentences = sum(len(d.document.sentences) for d in docs)
    result = {
        "task": "documents_speed", "documents": len(docs), "mentions": args.mentions,
        "sentences_per_document": round(sentences / len(docs), 1),
        "entities_per_document": round(sum(len(d.document.entities) for d in docs) / len(docs), 1),
        "pairs_per_document": round(sum(len(r.pairs) for r in read) / len(docs), 1),
        "facts": facts, "model": settings.model_location(),
        "raw_forward_sentences_per_s": round(sentences / sum(raw_s), 1),
        "in_process_sentences_per_s": round(sentences / sum(served_s), 1),
        "in_process_vs_raw": round(sum(raw_s) / sum(served_s), 3),
        "in_process_p50_ms": round(1000 * statistics.median(served_s), 1),
        "http_p50_ms": round(1000 * statistics.median(http_s), 1),
        "http_p99_ms": round(1000 * percentile(http_s, 0.99), 1),
        "hardware": hardware(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
