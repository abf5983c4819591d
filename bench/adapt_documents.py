"""What adapting a model to K examples per relation (`kgrel adapt`'s `adapt`) does to reading documents.

    python -m bench.adapt_documents --model runs/fold_c --out runs/fold_c_adapted [--shots 5]
    python -m bench.documents --model runs/fold_c_adapted --shots 0,5

The examples are those `bench.documents` gives the service at the same seed (single sentences of the
training documents), for every relation, the fold's held-out ones included: a curator who labelled K
examples of each of their relations and adapted. The adapted folder keeps the base model's record of which
relations it trained on and held out, so `bench.documents` scores the same groups. Prints the adaptation's
result (its relation-disjoint validation on single sentences) as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bench.common import SHARED
from kgrel.app.cli.documents import draw_examples, trained_relations
from kgrel.models.relation.adaptation import AdaptConfig, adapt
from kgrel.models.relation.docred import DOCRED_RELATIONS, load_docred, relation_infos, split_documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder to adapt (its training.json names its groups)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--docs", default=str(SHARED / "redocred" / "dev_docs.json"))
    parser.add_argument("--side-info", default=str(SHARED / "fewrel" / "pid2name.json"))
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--validation-share", type=float, default=0.1, help="relations held out of adapting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    docs = load_docred(args.docs, type_classes=False)
    split = split_documents(docs, 100, 0)
    side = relation_infos(args.side_info, DOCRED_RELATIONS)
    drawn = draw_examples(split.train, DOCRED_RELATIONS, args.shots, args.seed)
    examples = {r: items for r, items in drawn.items() if len(items) >= 2}
    trained, held_out = trained_relations(args.model)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    result = adapt(Path(args.model), examples, side, out,
                   AdaptConfig(validation_share=args.validation_share, force=True, seed=args.seed), device="cpu")
    record = json.loads((out / "training.json").read_text())
    record.update({"relations": trained, "held_out": held_out, "adapted_on": result.train_relations})
    (out / "training.json").write_text(json.dumps(record, indent=1))
    print(json.dumps({**result.as_dict(), "held_out_adapted_on": sorted(set(held_out) & set(result.train_relations))}))


if __name__ == "__main__":
    main()
