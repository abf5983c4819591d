"""Train the cross-encoder fact verifier (`models/relation/verifier.py`) on FewRel-format sentences.

    python bench/train_verifier.py --data runs/eval/train.json --out runs/verifier [--steps 700] [--seed 0]
        [--trained-layers N] [--joined-from N] [--side-info ../shared/data/fewrel/pid2name.json]

Train only on relations you will not evaluate on (`runs/eval/train.json` is the shipped model's own
training relations). 700 steps took 23 minutes on the 2-core Intel Xeon kind; with --trained-layers 3,
15.5 on the 2-core AMD EPYC kind.
The shipped verifier (data/models/kgrel-verifier) is

    python bench/train_verifier.py --data runs/eval/train.json --out data/models/kgrel-verifier --trained-layers 3

Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.extraction_precision import parse_range, range_or_none  # noqa: E402
from kgrel.models.relation.fewrel import load_fewrel, load_side_info  # noqa: E402
from kgrel.models.relation.side_info import relation_text  # noqa: E402
from kgrel.models.relation.verifier import train_verifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--side-info", type=Path, default=ROOT.parent / "shared/data/fewrel/pid2name.json")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trained-layers", type=int,
                        help="train only the encoder's top N layers; the saved verifier holds only those")
    parser.add_argument("--joined-from", type=int,
                        help="the encoder layers below this one read the sentence and the relation text apart, "
                             "so that a relation's are read once (needs --trained-layers at most 6 minus it)")
    parser.add_argument("--serve-worth", type=float, default=1.5,
                        help="recorded in verifier.json: the verifier's weight, counted in examples")
    parser.add_argument("--serve-examples", type=parse_range, default=(1, 1),
                        help="recorded in verifier.json: MIN-MAX, the K of the relations it is asked for "
                             "(measured with bench/extraction_precision.py --verifier-examples 0-)")
    parser.add_argument("--serve-veto", type=range_or_none, default=(0, 0),
                        help="recorded in verifier.json: MIN-MAX or none, the K of the relations whose scores it may "
                             "only lower, examples or not (measured with bench/extraction_precision.py "
                             "--verifier-veto)")
    args = parser.parse_args()
    data = load_fewrel(args.data)
    info = load_side_info(args.side_info)
    missing = sorted(r for r in data if r not in info)
    if missing:
        parser.error(f"no side information for {missing[:5]}")
    texts = {r: relation_text(info[r]) for r in data}
    verifier, history = train_verifier(data, texts, steps=args.steps, seed=args.seed,
                                       trained_layers=args.trained_layers, joined_from=args.joined_from,
                                       log=lambda line: print(line, file=sys.stderr))
    serving = {"worth": args.serve_worth, "examples": list(args.serve_examples),
               "veto": None if args.serve_veto == "none" else list(args.serve_veto), "veto_top": 3}
    verifier.save(args.out, {"relations": sorted(data), "steps": args.steps, "seed": args.seed, "serving": serving,
                             "history": history})
    print(json.dumps({"out": str(args.out), "relations": len(data), **history[-1]}))


if __name__ == "__main__":
    main()
