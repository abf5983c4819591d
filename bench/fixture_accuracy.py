"""Measure a relation model on the small fixed test fixture and record it in the model folder.

    python -m bench.fixture_accuracy --model data/models/kgrel-minilm [--write]

The shipped checkpoint's test (tests/test_training.py) checks that the model still gives these
numbers and zero-shot scores, so that a damaged or mismatched checkpoint is caught. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import ROOT
from kgrel.models.relation.evaluation import evaluate_fewshot, zeroshot_report, zeroshot_scores
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.model import RelationModel

FIXTURE = ROOT / "tests" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="save as fixture.json in the model folder")
    args = parser.parse_args()
    model = RelationModel.load(args.model, device="cpu")
    data = load_fewrel(FIXTURE / "tiny_fewrel.json")
    side_info = load_side_info(FIXTURE / "tiny_side_info.json")
    fewshot = evaluate_fewshot(model, data, 5, 1, args.episodes, args.seed, side_info)
    scores, gold = zeroshot_scores(model, data, side_info)
    zeroshot = zeroshot_report(scores, gold)
    result = {"fixture": "tests/data/tiny_fewrel.json", "episodes": args.episodes, "seed": args.seed,
              "fewshot_5w1s": fewshot["accuracy"], "zeroshot_accuracy": zeroshot["accuracy"],
              "zeroshot_macro_f1": zeroshot["macro_f1"],
              # The exact scores catch a damaged or mismatched checkpoint that still ranks these clear cases right.
              "zeroshot_scores": [[round(v, 4) for v in row] for row in scores.tolist()]}
    if args.write:
        (Path(args.model) / "fixture.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
