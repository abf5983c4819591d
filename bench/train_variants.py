"""Compare training recipes on the same relation-disjoint split: one line of JSON per variant.

    python bench/train_variants.py '{"name": {"train_layers": 2, "lr_encoder": 1e-5, ...}, ...}' \\
        [--dev-count 10] [--train-count N] [--seed 0]

Each variant is a set of models.train.TrainConfig fields on top of these defaults: dev evaluation
every 100 steps on 200 episodes, early stopping after 3 evaluations without improvement. The dev
relations are drawn as in `kgrel train --dev-count N --seed S`; the final figures are 1,000 seeded
episodes each of 5-way 1-shot, 5-way 0-shot, 5-way 5-shot and 10-way 1-shot on them.
`--train-count N` trains on N of the other relations only (drawn with the seed): how much do more
training relations buy on the same dev relations?
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgrel.models.relation.fewrel import load_fewrel, load_side_info  # noqa: E402
from kgrel.models.relation.model import RelationModel  # noqa: E402
from kgrel.models.relation.training import RelationTrainer, TrainConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", help="JSON object: variant name -> TrainConfig fields")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dev-count", type=int, default=10)
    parser.add_argument("--dev-per-relation", type=int, default=200)
    parser.add_argument("--train-count", type=int, help="train on this many of the non-dev relations (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="save each variant's model folder under OUT/NAME")
    args = parser.parse_args()
    data: dict = {}
    for name in ("wiki_public", "nyt"):
        for rel, items in load_fewrel(args.shared / f"fewrel/{name}.json").items():
            data.setdefault(rel, []).extend(items)
    dev_names = sorted(random.Random(args.seed).sample(sorted(data), args.dev_count))
    dev = {r: data[r][:args.dev_per_relation] for r in dev_names}
    train = {r: items for r, items in data.items() if r not in dev}
    if args.train_count is not None:
        if not 2 <= args.train_count <= len(train):
            parser.error(f"--train-count must be between 2 and the {len(train)} non-dev relations")
        kept = random.Random(args.seed).sample(sorted(train), args.train_count)
        train = {r: train[r] for r in sorted(kept)}
    side_info = load_side_info(args.shared / "fewrel/pid2name.json")
    for name, fields in json.loads(args.variants).items():
        model = RelationModel.load(None, device="cpu")
        config = TrainConfig(**{"dev_episodes": 200, "eval_every": 100, "patience": 3, "seed": args.seed, **fields})
        trainer = RelationTrainer(model, train, side_info, dev, config)
        started = time.time()
        result = trainer.train(progress=False) if config.steps else {"history": []}
        if args.out:
            trainer.save(args.out / name, result)
        final = trainer.evaluate(dev, settings=((5, 1), (5, 0), (5, 5), (10, 1)), episodes=1000, seed=0)
        print(json.dumps({"variant": name, "fields": fields, "minutes": round((time.time() - started) / 60, 1),
                          "dev_relations": dev_names,
                          "train_relations": sorted(train), "final": {k: round(v, 4) for k, v in final.items()},
                          "history": [{k: round(v, 3) if isinstance(v, float) else v for k, v in h.items()
                                       if k in ("step", "loss", "dev_5w1s", "dev_5w0s", "train_acc")}
                                      for h in result["history"]]}), flush=True)


if __name__ == "__main__":
    main()
