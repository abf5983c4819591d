"""How well the model alone ranks each relation's facts among a document's entity pairs, relation by relation.

    python -m bench.relation_ranking --model runs/fold_c [--limit 50] [--shots 5]

Where `bench.documents` scores what the service returns at its threshold, this asks why: for every relation, all
ordered entity pairs of the held-out documents (split seed 0, withheld pairs left out) are ranked by the model's
score for it, computed three ways: the side information alone (K = 0), the K examples' prototype alone, and the
two fused as served (`PrototypicalClassifier.similarity`, none-of-the-above subtracted). For each way it gives the
area under the ROC curve, the average precision and the best F1 of a threshold of the relation's own; then one
threshold for a whole group of relations (trained on, never trained on), which is what a service has. Types are
given (the documents' entity classes); graph evidence is not part of it.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from bench.common import SHARED
from kgrel.app.cli.documents import draw_examples, trained_relations
from kgrel.models.relation.docred import DOCRED_RELATIONS, load_docred, relation_infos, split_documents
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import PrototypeCache, PrototypicalClassifier


def ranking(score: torch.Tensor, gold: torch.Tensor) -> dict[str, float]:
    """AUC, average precision and the best F1 over thresholds of `score` against 0/1 `gold` (1-D)."""
    order = score.argsort(descending=True)
    hits = gold[order].float()
    right = hits.cumsum(0)
    returned = torch.arange(1, len(hits) + 1)
    positives, negatives = float(hits.sum()), float(len(hits) - hits.sum())
    ranks = score.argsort().argsort().float() + 1  # ascending ranks, for the Mann-Whitney AUC
    auc = (float(ranks[gold].sum()) - positives * (positives + 1) / 2) / (positives * negatives)
    return {"auc": round(auc, 3), "ap": round(float((right / returned * hits).sum()) / positives, 3),
            "best_f1": round(float((2 * right / (returned + positives)).max()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder (its training.json says what it trained on)")
    parser.add_argument("--docs", default=str(SHARED / "redocred" / "dev_docs.json"))
    parser.add_argument("--side-info", default=str(SHARED / "fewrel" / "pid2name.json"))
    parser.add_argument("--eval-count", type=int, default=100)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--min-facts", type=int, default=3, help="relations with fewer facts here are left out")
    parser.add_argument("--seed", type=int, default=0, help="which examples are drawn")
    args = parser.parse_args()

    docs = load_docred(args.docs, type_classes=True)
    split = split_documents(docs, args.eval_count, 0)
    dev = split.dev[:args.limit] if args.limit else split.dev
    relations = DOCRED_RELATIONS
    side = relation_infos(args.side_info, relations)
    trained, held_out = trained_relations(args.model)
    model = RelationModel.load(args.model)

    # The examples `bench.documents` gives the service at the same seed.
    examples = {r: [(f"{r}:{i}", x) for i, x in enumerate(items)]
                for r, items in draw_examples(split.train, relations, args.shots, args.seed).items()}
    protos = PrototypeCache(model).build([side[r] for r in relations], examples)

    column = {r: i for i, r in enumerate(relations)}
    pairs = [[(a, b) for a in range(len(d.document.entities)) for b in range(len(d.document.entities)) if a != b]
             for d in dev]
    views = model.read_pairs([d.document for d in dev], pairs)
    gold_rows, keep = [], []
    for doc, doc_pairs in zip(dev, pairs, strict=True):
        facts: dict[tuple[int, int], set[str]] = {}
        for h, r, t in doc.facts:
            facts.setdefault((h, t), set()).add(r)
        for a, b in doc_pairs:
            keep.append((a, b) not in doc.withheld and (b, a) not in doc.withheld)
            row = torch.zeros(len(relations), dtype=torch.bool)
            for r in facts.get((a, b), ()):
                row[column[r]] = True
            gold_rows.append(row)
    kept = torch.tensor(keep)
    gold = torch.stack(gold_rows)[kept]
    example = torch.cat([v.example for v in views])[kept]
    side_view = torch.cat([v.side for v in views])[kept]

    side_score = side_view @ protos.description.T - model.heads.nota_similarity(side_view)
    example_score = example @ F.normalize(protos.example_sum, dim=-1).T
    fused = PrototypicalClassifier(model).similarity(example, side_view, protos)  # as served, before calibration
    ways = {"side": side_score, "examples": example_score, f"fused_k{args.shots}": fused}

    out = {"model": args.model, "documents": len(dev), "pairs": len(gold), "shots": args.shots, "groups": {}}
    for group, names in (("trained", trained), ("held_out", held_out)):
        rows = {}
        for r in names:
            j = column[r]
            if int(gold[:, j].sum()) < args.min_facts:
                continue
            rows[r] = {"label": side[r].label, "facts": int(gold[:, j].sum()),
                       **{w: ranking(s[:, j], gold[:, j]) for w, s in ways.items()}}
        if not rows:
            continue
        columns = torch.tensor([column[r] for r in rows])
        summary = {w: {m: round(sum(v[w][m] for v in rows.values()) / len(rows), 3) for m in ("auc", "ap", "best_f1")}
                   | {"one_threshold_best_f1": ranking(s[:, columns].flatten(), gold[:, columns].flatten())["best_f1"]}
                   for w, s in ways.items()}
        out["groups"][group] = {"relations": len(rows), "mean": summary, "by_relation": rows}
        print(f"{group}: {len(rows)} relations with at least {args.min_facts} facts", flush=True)
        for w, m in summary.items():
            print(f"  {w:10s} mean AUC {m['auc']:.3f}  AP {m['ap']:.3f}  best F1 {m['best_f1']:.3f}  "
                  f"one threshold {m['one_threshold_best_f1']:.3f}", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
