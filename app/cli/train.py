"""`kgrel train`: meta-train the relation model on FewRel-format files (the shipped recipe)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, settings_from


def register(sub) -> None:
    p = sub.add_parser("train", help="meta-train the relation model on FewRel-format files")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--side-info", required=True)
    p.add_argument("--out", default="data/models/kgrel-minilm")
    p.add_argument("--dev-relations", help="comma-separated relations held out for early stopping and calibration")
    p.add_argument("--dev-count", type=int, default=0, help="or hold out this many relations at random (seeded)")
    p.add_argument("--dev-per-relation", type=int, default=200)
    p.add_argument("--steps", type=int, default=1500, help="most steps (early stopping with a dev split)")
    p.add_argument("--train-layers", type=int, default=5,
                   help="top encoder layers to fine-tune (0: heads only; 5: the shipped recipe)")
    p.add_argument("--n-way", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate of the encoder layers")
    p.add_argument("--lr-heads", type=float, default=1e-4)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--calibration-from", help="without a dev split: copy the calibration of this model folder")
    p.add_argument("--align-weight", type=float, default=1.0)
    p.add_argument("--side-dropout", type=float, default=0.2)
    p.add_argument("--hard-negatives", type=float, help="temperature of similarity-weighted relation sampling")
    p.add_argument("--max-per-relation", type=int)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--calibration-episodes", type=int, default=300)
    p.add_argument("--train-precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="arithmetic of training steps (auto: bf16 where the hardware runs it fast)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nota-rates", default="0,0.15,0.5",
                   help="per episode, one of these shares of queries comes from relations outside it (answer: none "
                        "of the above); '0' turns it off")
    p.add_argument("--reverse-share", type=float, default=0.5,
                   help="reversed-pair queries (head and tail swapped; answer: none of the above) per episode, as a "
                        "share of its regular queries; 0 turns it off")
    p.add_argument("--notes")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from kgrel.models.relation.fewrel import load_fewrel, load_side_info
    from kgrel.models.relation.recipe import split_by_relation, train_relation_model
    from kgrel.models.relation.training import TrainConfig

    data: dict = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items)
    side_info = load_side_info(args.side_info)
    dev_names = [r.strip() for r in args.dev_relations.split(",") if r.strip()] if args.dev_relations else None
    try:
        split = split_by_relation(data, dev_names, args.dev_count, args.dev_per_relation, args.seed)
    except ValueError as e:
        return fail(f"--dev-relations: {e}")
    config = TrainConfig(steps=args.steps, train_layers=args.train_layers, n_way=args.n_way, seed=args.seed,
                         eval_every=args.eval_every, patience=args.patience, align_weight=args.align_weight,
                         hard_negatives=args.hard_negatives, side_dropout=args.side_dropout,
                         lr_encoder=args.lr, lr_heads=args.lr_heads, max_per_relation=args.max_per_relation,
                         precision=args.train_precision, reverse_share=args.reverse_share,
                         nota_rates=tuple(float(x) for x in args.nota_rates.split(",")),
                         notes=args.notes or f"kgrel trained on {len(split.train)} FewRel relations, seed {args.seed}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = settings_from(args)
    out = Path(args.out)
    result = train_relation_model(split, side_info, config, out, encoder_dir=settings.encoder, device=settings.device,
                                  calibration_from=args.calibration_from,
                                  calibration_episodes=args.calibration_episodes)
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps({"task": "train", "out": str(out), "train_relations": sorted(split.train),
                      "dev_relations": list(split.dev), **summary}))
    return 0
