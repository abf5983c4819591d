"""Is fitting the side-information weight per K on held-out relations worth it on relations it was not fitted on?

    python bench/side_weight_crossfit.py --data runs/eval/dev.json --model runs/fold0 [--episodes 1000]

`kgrel train` fits the weight per K on its dev relations and reports accuracy on the same relations.
This bench removes that optimism: it splits the relations into two seeded halves, fits the weights on
one half, and measures N-way K-shot accuracy (N = the half's size) on the other, with the single
trained weight and with the fitted ones; then the other way round. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.evaluate import evaluate_fewshot  # noqa: E402
from models.fewrel import load_fewrel, load_side_info  # noqa: E402
from models.relation_model import RelationModel  # noqa: E402
from models.side_weights import fit_side_weights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--side-info", default=str(ROOT.parent / "shared/data/fewrel/pid2name.json"))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--shots", default="1,5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data: dict = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items)
    side_info = load_side_info(args.side_info)
    relations = sorted(data)
    random.Random(args.seed).shuffle(relations)
    halves = [sorted(relations[:len(relations) // 2]), sorted(relations[len(relations) // 2:])]
    model = RelationModel.load(args.model, device="cpu")
    model.config.side_weight_by_k = {}
    folds = []
    for fit_on, test_on in ((halves[0], halves[1]), (halves[1], halves[0])):
        fitted, _ = fit_side_weights(model, {r: data[r] for r in fit_on}, side_info, seed=args.seed)
        test = {r: data[r] for r in test_on}
        row = {"fitted_on": fit_on, "tested_on": test_on, "side_weight_by_k": fitted}
        for k in (int(s) for s in args.shots.split(",")):
            for name, weights in (("trained_weight", {}), ("fitted_weights", fitted)):
                model.config.side_weight_by_k = weights
                row[f"{len(test)}w{k}s_{name}"] = evaluate_fewshot(model, test, len(test), k, args.episodes,
                                                                   args.seed, side_info)["accuracy"]
        model.config.side_weight_by_k = {}
        folds.append(row)
        print(json.dumps(row), file=sys.stderr)
    keys = [k for k in folds[0] if k.endswith("_weight") or k.endswith("_weights")]
    mean = {k: round(sum(f[k] for f in folds) / len(folds), 4) for k in keys}
    print(json.dumps({"bench": "side_weight_crossfit", "model": args.model, "trained_weight":
                      model.config.side_weight, "mean_over_folds": mean, "folds": folds}))


if __name__ == "__main__":
    main()
