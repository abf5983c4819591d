"""`kgrel train`: train the relation model on documents (DocRED format) and, beside them, FewRel sentences."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, settings_from


def register(sub) -> None:
    p = sub.add_parser("train", help="train the relation model on documents (and FewRel sentences)")
    p.add_argument("--documents", required=True, help="DocRED-format file: documents, entities, facts")
    p.add_argument("--sentences", nargs="*", default=[], help="FewRel-format files read beside the documents")
    p.add_argument("--side-info", required=True, help="label and description of each relation (pid2name.json)")
    p.add_argument("--out", default="data/models/kgrel-minilm")
    p.add_argument("--dev-documents", type=int, default=100, help="documents held out (seeded split)")
    p.add_argument("--held-out", default="", help="comma-separated relations never trained on (zero-shot dev)")
    p.add_argument("--held-out-count", type=int, default=0,
                   help="or hold out this many relations, drawn (seeded) among those with fewer than 500 facts, "
                        "--held-out ones included")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-layers", type=int, default=5, help="top encoder layers that learn (0: heads only)")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate of the encoder layers")
    p.add_argument("--lr-heads", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--notes")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from kgrel.models.relation.docred import load_docred, relation_infos
    from kgrel.models.relation.document_training import DocumentTrainConfig
    from kgrel.models.relation.fewrel import load_fewrel
    from kgrel.models.relation.recipe import Recipe, train_document_model

    for path in [args.documents, args.side_info, *args.sentences]:
        if not Path(path).exists():
            return fail(f"no file {path}")
    documents = load_docred(args.documents)
    sentences: dict = {}
    for path in args.sentences:
        for rel, items in load_fewrel(path).items():
            sentences.setdefault(rel, []).extend(items)
    relations = sorted({r for d in documents for _, r, _ in d.facts} | set(sentences))
    side_info = relation_infos(args.side_info, relations)
    recipe = Recipe(dev_documents=args.dev_documents, held_out=[r for r in args.held_out.split(",") if r],
                    held_out_count=args.held_out_count, split_seed=args.seed)
    config = DocumentTrainConfig(epochs=args.epochs, train_layers=args.train_layers, lr_encoder=args.lr,
                                 lr_heads=args.lr_heads, seed=args.seed,
                                 fewrel_way=DocumentTrainConfig.fewrel_way if sentences else 0,
                                 notes=args.notes or f"kgrel trained on {len(documents) - args.dev_documents} "
                                                     f"documents{' and FewRel sentences' if sentences else ''}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = settings_from(args)
    result = train_document_model(documents, side_info, sentences, config, recipe, Path(args.out),
                                  encoder_dir=settings.encoder, device=settings.device)
    print(json.dumps({"task": "train", "out": args.out, **{k: v for k, v in result.items() if k != "history"},
                      "last": result["history"][-1] if result["history"] else None}))
    return 0
