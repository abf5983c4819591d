"""Prediction speed: the service next to the raw encoder forward pass on the same sentences and batches.

    python -m bench.predict_speed [--data FEWREL.json] [--sentences 512] [--batch-size 32] [--model DIR]
        [--examples K] [--plausibility embeddings|ultra]

Measures, in one run on one machine:
- raw: tokenizer + encoder forward pass alone, on exactly the batches the service forms;
- in-process: KgrelService.predict on all sentences (marking, encoding, scoring against every
  relation of the demo graph, calibration);
- http: the same list POSTed to /predict of a `kgrel serve` subprocess (uvicorn), in chunks;
- latency: p50/p99 of single-sentence /predict requests over HTTP (other sentences than the batches').
With `--examples K`, each relation of --data that the demo graph has first gets K sentences as examples
(never among the measured ones). `--plausibility ultra`
asks ULTRA for the plausibility of each pair whose mentions are both linked to the graph (its kept values
forgotten before each in-process run, as for new sentences). Prints one JSON object
last; ratios to raw hold across machines better than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import add_data_argument, best_of, hardware, kgrel_server, raw_forward, sentences
from kgrel.app.config import Settings
from kgrel.app.services import KgrelService, PredictRequest
from kgrel.models.fusion.evaluation import graph_relation_iri
from kgrel.models.relation.documents import instance_document, mark_document
from kgrel.models.relation.fewrel import load_fewrel


def add_examples(service: KgrelService, path: Path, k: int) -> int:
    """K examples for each relation of `path` the graph has (FewRel ids are Wikidata properties)."""
    known = {info.iri for info in service.graph.scoring_relations()[0]}
    added = 0
    for rid, items in load_fewrel(path).items():
        iri = graph_relation_iri(rid)
        if iri in known:
            service.graph.add_examples(iri, items[:k])
            added += 1
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--single", type=int, default=200, help="single-sentence requests for latency")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="relation model folder (default: the shipped one)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8", "bf16"])
    parser.add_argument("--examples", type=int, default=0, help="K examples for each relation of --data first")
    parser.add_argument("--plausibility", choices=["embeddings", "ultra"], default="embeddings")
    args = parser.parse_args()

    # The single requests are sentences the batches never asked.
    picked = sentences(args.data, args.sentences + args.single, skip=args.examples)
    instances, singles = picked[:args.sentences], picked[args.sentences:]
    workdir = Path(tempfile.mkdtemp(prefix="kgrel-bench-"))
    settings = Settings(data_dir=workdir / "var", model=args.model, device=args.device, batch_size=args.batch_size,
                        precision=args.precision, plausibility=args.plausibility)
    service = KgrelService(settings)
    service.load_demo_if_empty()
    with_examples = add_examples(service, args.data, args.examples) if args.examples else 0
    protos = service.predictions.prototypes()
    encoder = service.predictions.model.encoder
    requests = [PredictRequest(x, top_k=3) for x in instances]

    # Raw: the encoder alone on the very batches the service forms (length-sorted, same size).
    marked = [mark_document(instance_document(x)) for x in instances]
    batches = [[marked[i].text for i in idx] for idx in encoder.batches([len(m.text) for m in marked])]

    def raw():
        raw_forward(encoder, batches)

    raw()  # warm-up
    service.predict(requests[: args.batch_size])
    t_raw = best_of(raw, args.repeats)

    def in_process():
        service.predictions.forget_plausibility()
        service.predict(requests)

    t_service = best_of(in_process, args.repeats)
    linked = sum(bool(c.head.entity and c.tail.entity) for c in service.predictions.contexts(instances) or [])
    service.close()

    # HTTP: a real `kgrel serve` over the same data dir.
    env = {"KGREL_BATCH_SIZE": str(args.batch_size), "KGREL_DEVICE": args.device, "KGREL_PRECISION": args.precision,
           **({"KGREL_MODEL": args.model} if args.model else {}), "KGREL_PLAUSIBILITY": args.plausibility}
    with kgrel_server(settings.data_dir, 8765, env) as url:
        def body(x):
            return {"text": x.text, "head": {"start": x.head.start, "end": x.head.end},
                    "tail": {"start": x.tail.start, "end": x.tail.end}}

        bodies = [body(x) for x in instances]
        chunk = 256
        with httpx.Client(timeout=600) as client:
            def http_batch():
                for start in range(0, len(bodies), chunk):
                    r = client.post(url + "/predict", json=bodies[start:start + chunk])
                    r.raise_for_status()

            http_batch()
            t_http = best_of(http_batch, args.repeats)
            latencies = []
            for x in singles:
                start = time.perf_counter()
                client.post(url + "/predict", json=body(x)).raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)

    n = len(instances)
    latencies.sort()
    result = {
        "task": "predict_speed",
        "sentences": n,
        "batch_size": args.batch_size,
        "relations": len(protos),
        "relations_with_examples": with_examples,
        "examples_each": args.examples,
        "plausibility": args.plausibility,
        "pairs_with_both_mentions_linked": linked,
        "model": service.predictions.model.config.notes or str(encoder.model_dir),
        "device": str(encoder.device),
        "precision": args.precision,
        "raw_forward_sent_per_s": round(n / t_raw, 1),
        "in_process_sent_per_s": round(n / t_service, 1),
        "http_sent_per_s": round(n / t_http, 1),
        "in_process_vs_raw": round(t_raw / t_service, 3),
        "http_vs_raw": round(t_raw / t_http, 3),
        "single_p50_ms": round(statistics.median(latencies), 2),
        "single_p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "hardware": hardware(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
