"""Fact verifier speed: pairs (cells) a second on exactly the cells the service reads.

    python bench/verifier_speed.py [--verifier DIR] [--data FEWREL.json] [--sentences 128]
        [--batch-sizes 64,32,16,8] [--repeats 3]

Asks /predict (in-process, the demo graph, no examples) for --sentences sentences, records the
(pair, relation text) cells the verifier is asked for, then times the verifier alone on those cells at
each batch size, the sizes interleaved so that no size gets a warmer machine than another. A verifier
that reads apart (`late_join.py`) keeps each relation text's lower-layer states from the service's pass,
as a running service does. Prints one JSON object last, with the best of --repeats per batch size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.predict_speed import add_data_argument, hardware, sentences  # noqa: E402
from kgrel.app.config import Settings  # noqa: E402
from kgrel.app.services import KgrelService, PredictRequest  # noqa: E402
from kgrel.models.relation.verifier import FactVerifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser)
    parser.add_argument("--verifier", help="fact verifier folder (default: the shipped one)")
    parser.add_argument("--sentences", type=int, default=128)
    parser.add_argument("--batch-sizes", default="64,32,16,8")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="kgrel-bench-")) / "var", verifier=args.verifier)
    service = KgrelService(settings)
    service.load_demo_if_empty()
    scores = service.predictions.verifier
    if scores is None:
        parser.error("the service has no verifier (KGREL_VERIFIER=none?)")
    verifier = scores.verifier
    cells: list = []
    read = verifier.probabilities

    def recorded(instances, texts):
        cells.extend(zip(instances, texts, strict=True))
        return read(instances, texts)

    verifier.probabilities = recorded  # an instance attribute: only this benchmark's verifier records
    service.predict([PredictRequest(x, top_k=3) for x in sentences(args.data, args.sentences)])
    del verifier.probabilities
    service.close()
    instances, texts = [x for x, _ in cells], [t for _, t in cells]

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    best = dict.fromkeys(sizes, float("inf"))
    shipped = FactVerifier.batch_size
    try:
        for _ in range(args.repeats):
            for size in sizes:
                FactVerifier.batch_size = size  # the class's per-device choice, overridden for the measure
                start = time.perf_counter()
                verifier.probabilities(instances, texts)
                best[size] = min(best[size], time.perf_counter() - start)
    finally:
        FactVerifier.batch_size = shipped
    print(json.dumps({"task": "verifier_speed", "verifier": settings.verifier_location(), "sentences": args.sentences,
                      "cells": len(cells), "joined_from": verifier.joined_from,
                      "pairs_per_s": {size: round(len(cells) / best[size], 1) for size in sizes},
                      "served_batch_size": verifier.batch_size, "hardware": hardware()}))


if __name__ == "__main__":
    main()
