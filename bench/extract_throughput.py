"""Batch extraction throughput: `kgrel extract` in-process and on a local Ray instance, against the raw encoder.

    python -m bench.extract_throughput [--documents 2000] [--data FEWREL.json] [--actors 1,2]

Documents are FewRel sentences, three to a document, over the bundled demo graph plus the names of the
sentences' entities (so that every sentence has a linked pair to classify). Measures, on this machine:
- the pipeline in one process (`ExtractionService.extract_documents` in batches of 16): sentence
  splitting, linking, reading each document once and scoring its entity pairs both ways, provenance quads;
  as documents per second next to the raw tokenizer + encoder forward pass on those documents as marked;
- `kgrel extract` as a user runs it, in-process and with `--ray local --actors N`: wall time (model
  and Ray start-up included), documents/s and facts/s, and whether every run found the same facts.
Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyoxigraph as ox
import torch

from bench.common import ROOT, add_data_argument, hardware
from kgrel.app.config import Settings
from kgrel.app.services import KgrelService
from kgrel.models.relation.documents import mark_document
from kgrel.models.relation.fewrel import load_fewrel

LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def build_documents(path: Path, n: int) -> tuple[list[dict], bytes]:
    """`n` documents of three FewRel sentences each, and N-Triples naming their entities (each sentence's
    head and tail, as written there, under its Wikidata id), so that every sentence has a linked pair."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    instances = [x for items in load_fewrel(path).values() for x in items]
    ids = [(item["h"][1], item["t"][1]) for items in raw.values() for item in items]
    picked = [(instances[i % len(instances)], ids[i % len(ids)]) for i in range(3 * n)]
    labels = set()
    for x, (head_id, tail_id) in picked:
        for span, qid in ((x.head, head_id), (x.tail, tail_id)):
            name = x.text[span.start:span.end].replace("\\", " ").replace('"', " ")
            labels.add(f'<http://www.wikidata.org/entity/{qid}> <{LABEL}> "{name}"@en .')
    docs = [{"id": f"doc-{i}", "text": " ".join(x.text for x, _ in picked[3 * i: 3 * i + 3])} for i in range(n)]
    return docs, "\n".join(sorted(labels)).encode()


def facts_of(path: Path) -> list[str]:
    return sorted(line for line in path.read_text().splitlines() if "#score>" not in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--actors", default="1,2")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kgrel-extract-bench-"))
    docs, entity_names = build_documents(args.data, args.documents)
    corpus = work / "docs.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    settings = Settings(data_dir=work / "var")

    # The pipeline in this process, next to the raw forward pass on the same encoder inputs.
    service = KgrelService(settings)
    service.load_demo_if_empty()
    service.graph.ingest(entity_names, ox.RdfFormat.N_TRIPLES)
    service.predictions.state()
    extraction, encoder = service.extraction, service.predictions.model.encoder
    texts = [d["text"] for d in docs]
    read = [r for r in extraction.read(texts) if r.pairs]
    pairs = [p for r in read for p in r.pairs]
    # The encoder reads each document once, as the service marks it, in the service's length-sorted batches.
    inputs = [mark_document(r.document).text for r in read]
    batches = [[inputs[i] for i in idx] for idx in encoder.batches([len(t) for t in inputs])]

    def raw() -> None:
        with torch.inference_mode():
            for texts in batches:
                windows = encoder.tokenize_documents(texts)
                encoder.model(input_ids=windows.input_ids, attention_mask=windows.attention_mask)

    raw()  # warm-up
    start = time.perf_counter()
    raw()
    t_raw = time.perf_counter() - start
    start = time.perf_counter()
    found = 0
    for i in range(0, len(docs), args.batch_size):
        chunk = [(d["id"], d["text"]) for d in docs[i:i + args.batch_size]]
        found += extraction.extract_documents(chunk, graph="urn:kgrel:graph:extraction", model="bench").facts
    t_pipeline = time.perf_counter() - start
    service.close()

    # `kgrel extract` as a user runs it.
    runs = {}
    outputs = {}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    modes = [("in-process", [])] + [(f"ray, {n} actor{'s' if n > 1 else ''}", ["--ray", "local", "--actors", str(n)])
                                     for n in map(int, args.actors.split(","))]
    for name, extra in modes:
        out = work / f"{len(runs)}.nq"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kgrel.app.cli", "extract", "--input", str(corpus), "--output",
                               str(out), "--data-dir", str(settings.data_dir), "--batch-size", str(args.batch_size),
                               *extra], env=env, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        runs[name] = {"wall_s": round(wall, 1), "documents_per_s": round(summary["documents"] / wall, 2),
                      "facts_per_s": round(summary["facts"] / wall, 2), "facts": summary["facts"]}
        outputs[name] = facts_of(out)
    first = next(iter(outputs.values()))
    result = {
        "hardware": hardware(), "load_average": os.getloadavg(), "documents": len(docs),
        "sentences": 3 * len(docs), "entity_pairs": len(pairs), "encoder_inputs": len(inputs),
        "pipeline": {"seconds": round(t_pipeline, 1), "facts": found,
                     "documents_per_s": round(len(inputs) / t_pipeline, 1),
                     "raw_forward_documents_per_s": round(len(inputs) / t_raw, 1),
                     "ratio_to_raw": round(t_raw / t_pipeline, 3)},
        "kgrel_extract": runs,
        # Facts (with their provenance, scores aside) that a run found and the in-process run did not, or
        # the reverse: a fact whose score lies at the threshold can flip when the arithmetic differs.
        "facts_differing_from_in_process": {name: len(set(o) ^ set(first)) for name, o in outputs.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
