"""ULTRA with no training on the GraIL inductive splits: our implementation against the authors' figures.

    python -m bench.ultra_grail [--checkpoint data/ultra/ultra_3g.pt] [--grail ../shared/data/grail]
                                [--splits fb237_v1,...] [--protocol ultra|issue]

Each split is ranked over its inductive graph (X_vN_ind/train.txt), which the model never saw, filtered
against every triple of X_vN_ind. Two protocols: `ultra` ranks valid + test of X_vN_ind together, as the
authors' code does (so the figures compare with theirs); `issue` ranks test.txt alone.
The splits come from FB15k-237 and WN18RR, on which both published checkpoints were pre-trained:
their figures on them are not clean (see the README), and no headline is drawn from them. A checkpoint
of your own (`kgrel kg eval-lp ... --save`) says what it learned from (`pretrained_on`, printed
here): one pre-trained on fb237_v1 alone is clean on the WN18RR splits.
One JSON object per split, then a summary line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import ROOT, hardware
from kgrel.models.graph.ultra_training import benchmark

SPLITS = [f"{kg}_v{n}" for kg in ("fb237", "WN18RR") for n in range(1, 5)] + ["nell_v1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "data" / "ultra" / "ultra_3g.pt"))
    parser.add_argument("--grail", type=Path, default=ROOT.parent / "shared" / "data" / "grail")
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--protocol", choices=["ultra", "issue"], default="ultra")
    args = parser.parse_args()
    results = []
    for name in args.splits.split(","):
        train, ind = args.grail / name, args.grail / f"{name}_ind"
        tests = [ind / "valid.txt.gz", ind / "test.txt.gz"] if args.protocol == "ultra" else [ind / "test.txt.gz"]
        result = benchmark(train / "train.txt.gz", train / "valid.txt.gz", tests, inference_graph=ind / "train.txt.gz",
                           filters=[ind / "valid.txt.gz"], checkpoint=args.checkpoint)
        result = {"split": name, "protocol": args.protocol, **result}
        results.append(result)
        print(json.dumps(result), flush=True)
    print(json.dumps({"hardware": hardware(), "checkpoint": args.checkpoint, "protocol": args.protocol,
                      "pretrained_on": results[0]["pretrained_on"] if results else None,
                      "mrr": {r["split"]: r["mrr"] for r in results},
                      "hits@10": {r["split"]: r["hits@10"] for r in results},
                      "seconds": {r["split"]: r["seconds"] for r in results}}))


if __name__ == "__main__":
    main()
