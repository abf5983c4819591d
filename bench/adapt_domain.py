"""Does adapting to a user's examples help on their domain, and never hurt? (`kgrel adapt`'s recipe)

    python -m bench.adapt_domain --model runs/shift_wiki_nota --data runs/eval/nyt_only.json \\
        [--adapt-count 9] [--shots 5,10,20] [--episodes 1000] [--seed 0]

A model trained on Wikipedia text only is adapted with K labelled news sentences for each of
`--adapt-count` news relations (seeded draw), the way `POST /model/adapt` does it (heads fine-tuned,
relation-disjoint validation inside those relations, kept only when validation does not drop), and
tested on the *other* news relations, which neither training nor adapting saw: 5-way 1-shot, 5-way
1-shot with 50% none-of-the-above queries, and zero-shot 5-way macro-F1: for the model kgrel would serve
(the adapted one only if it validated no worse) and, under "adapted", for the adapted one in any case.
Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT
from kgrel.models.relation.adaptation import AdaptConfig, adapt
from kgrel.models.relation.evaluation import evaluate_fewshot, evaluate_zeroshot
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.model import RelationModel


def scores(model: RelationModel, test: dict, side_info: dict, args: argparse.Namespace) -> dict:
    fewshot = evaluate_fewshot(model, test, 5, 1, args.episodes, args.seed, side_info)
    nota = evaluate_fewshot(model, test, 5, 1, args.episodes, args.seed, side_info, nota_rate=0.5)
    zeroshot = evaluate_zeroshot(model, test, side_info, n_way=5, subsets=200, seed=args.seed)
    out = {"5w1s": fewshot["accuracy"], "5w1s_ci95": fewshot["ci95"], "5w1s_nota50": nota["accuracy"],
           "nota50_recall": nota["nota_recall"], "zeroshot_5way_macro_f1": zeroshot["macro_f1"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model trained without the test domain")
    parser.add_argument("--data", required=True, help="FewRel file of the new domain's relations")
    parser.add_argument("--side-info", default=str(ROOT.parent / "shared/data/fewrel/pid2name.json"))
    parser.add_argument("--adapt-count", type=int, default=9)
    parser.add_argument("--shots", default="5,10,20")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr-heads", type=float, default=AdaptConfig.lr_heads)
    parser.add_argument("--train-layers", type=int, default=AdaptConfig.train_layers,
                        help="top encoder layers adapted too (0: the heads only)")
    parser.add_argument("--lr-encoder", type=float, default=AdaptConfig.lr_encoder)
    parser.add_argument("--validation-share", type=float, default=AdaptConfig.validation_share)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_fewrel(args.data)
    side_info = load_side_info(args.side_info)
    adapt_relations = sorted(random.Random(args.seed).sample(sorted(data), args.adapt_count))
    test = {r: items for r, items in data.items() if r not in adapt_relations}
    base = RelationModel.load(args.model, device="cpu")
    results = {"base": scores(base, test, side_info, args)}
    print(json.dumps({"base": results["base"]}), file=sys.stderr)
    for k in (int(x) for x in args.shots.split(",")):
        examples = {r: data[r][:k] for r in adapt_relations}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "adapted"
            # Forced, so the adapted model can be measured even when the rule would not serve it.
            outcome = adapt(Path(args.model), examples, side_info, out,
                            AdaptConfig(steps=args.steps, seed=args.seed, lr_heads=args.lr_heads,
                                        train_layers=args.train_layers, lr_encoder=args.lr_encoder,
                                        validation_share=args.validation_share, force=True), device="cpu")
            kept = outcome.validated  # the rule kgrel serves by
            adapted = scores(RelationModel.load(out, device="cpu"), test, side_info, args)
            row = {"kept": kept, "validation_before": outcome.before, "validation_after": outcome.after,
                   "seconds": outcome.seconds, "adapted": adapted, **(adapted if kept else results["base"])}
        results[f"K={k}"] = row
        print(json.dumps({f"K={k}": row}), file=sys.stderr)
    print(json.dumps({"task": "adapt_domain", "model": args.model, "data": args.data, "lr_heads": args.lr_heads,
                      "train_layers": args.train_layers, "lr_encoder": args.lr_encoder, "steps": args.steps,
                      "validation_share": args.validation_share,
                      "adapt_relations": adapt_relations, "test_relations": sorted(test), "results": results}))


if __name__ == "__main__":
    main()
