"""Entities ingested after training: fold-in against retraining and against ULTRA, measured.

    python -m bench.new_entities [--codex ../shared/data/codex/codex-s] [--share 0.1] [--seed 0]
        [--checkpoints data/ultra/ultra_3g.pt,runs/ckpt/ultra_fb237v1.pt] [--rank 256] [--epochs 30]

A share of the test split's entities is held out of training (`models.graph.holdout`): every training
fact that touches one leaves the graph the embeddings train on, and comes back afterwards as an ingest
would bring it. The test triples that touch a held-out entity are ranked (filtered against train, valid
and test, both directions) by:

- `folded_in`: ComplEx trained without them, the newcomers folded in from their facts with trained
  entities (what the service does for `/kg/entities/{id}/similar` and the classifier's graph evidence);
- `retrained`: ComplEx trained again on every fact (what a new training job buys);
- `ultra:NAME`: ULTRA over the whole graph with no training (what `/kg/predict-links` does). A
  checkpoint pre-trained on CoDEx-M (`ultra_3g`) overlaps CoDEx, so its figure is not clean: the output
  lists what each checkpoint was pre-trained on.

For `/kg/entities/{id}/similar`: the share of each held-out entity's 10 nearest trained entities that share
one of its Wikidata classes (`entity2types.json`), folded in against retrained, and at random.
ULTRA has no query-free entity vector to compare (its entity states are conditioned on a question).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.common import ROOT, hardware
from kgrel.kg.export import GraphExport
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.evaluation import (
    filtered_ranks,
    index_known,
    known_tails,
    lp_metrics,
    read_triples,
)
from kgrel.models.graph.holdout import entity_table, hold_out_entities, type_agreement
from kgrel.models.graph.link_predictor import LPConfig
from kgrel.models.graph.ultra import FactGraph, Ultra
from kgrel.models.graph.ultra_training import Answers, Vocabulary, pretraining_graphs, ranks

SHARED = ROOT.parent / "shared" / "data" / "codex"


def complex_ranks(kg: KGEmbeddings, table: torch.Tensor | None, nodes: dict[str, int], test, every) -> torch.Tensor:
    """Filtered ranks of `test` (both ways) by the embeddings' decoder over `table` (rows in `nodes` order),
    or over the embeddings' own rows."""
    relations = kg.export.relation_index
    known = known_tails(index_known(every, nodes, relations), len(relations))
    return filtered_ranks(kg.model, index_known(test, nodes, relations), known, entities=table)


def ultra_ranks(checkpoint: str, facts, test, every) -> torch.Tensor:
    """Filtered ranks of `test` (both ways) by ULTRA reasoning over `facts`, no training."""
    vocab = Vocabulary()
    graph = FactGraph.from_triples(vocab.index(facts), len(vocab.entities), len(vocab.relations))
    answers = Answers(index_known(every, vocab.entities, vocab.relations), len(vocab.relations))
    full, _ = ranks(Ultra.load(checkpoint), graph, index_known(test, vocab.entities, vocab.relations), answers)
    return full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codex", type=Path, default=SHARED / "codex-s", help="a folder of train/valid/test.txt")
    parser.add_argument("--types", type=Path, default=SHARED / "entity2types.json")
    parser.add_argument("--share", type=float, default=0.1, help="share of the test split's entities held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", default=str(ROOT / "data" / "ultra" / "ultra_3g.pt"),
                        help="comma-separated ULTRA checkpoints ('' for none)")
    parser.add_argument("--rank", type=int, default=256)
    parser.add_argument("--n3", type=float, default=0.005)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--negatives", type=int, default=None, help="sampled negatives per batch (CoDEx-M: 4096)")
    args = parser.parse_args()

    train, valid, test = (read_triples(args.codex / f"{name}.txt") for name in ("train", "valid", "test"))
    every = train + valid + test
    hold = hold_out_entities(train, test, args.share, args.seed)
    config = LPConfig(rank=args.rank, n3=args.n3, epochs=args.epochs, negatives=args.negatives, seed=args.seed)
    out: dict = {"graph": args.codex.name, "share": args.share, "seed": args.seed, "held_out": len(hold.held_out),
                 "base_facts": len(hold.base), "arrived_facts": len(hold.arrived), "test_triples": len(hold.test),
                 "test_dropped": hold.dropped, "config": {"rank": args.rank, "n3": args.n3, "epochs": args.epochs,
                                                          "negatives": args.negatives}}
    results: dict = {}

    started = time.monotonic()
    base = KGEmbeddings.train(GraphExport.of(hold.base), config, progress=False)
    out["folded_in_train_seconds"] = round(time.monotonic() - started, 1)
    full_export = GraphExport.of(train)
    started = time.monotonic()
    table, embedded = entity_table(base, full_export.nodes, hold.facts_of())
    out["fold_in_seconds"] = round(time.monotonic() - started, 2)
    newcomers = [i for i, iri in enumerate(full_export.nodes) if iri not in base.export.node_index]
    out["newcomers"] = len(newcomers)  # held out, and entities whose every fact was with one
    out["newcomers_without_a_fact_to_fold_in"] = int((~embedded[newcomers]).sum())
    results["folded_in"] = lp_metrics(complex_ranks(base, table, full_export.node_index, hold.test, every))

    started = time.monotonic()
    retrained = KGEmbeddings.train(full_export, config, progress=False)
    out["retrained_train_seconds"] = round(time.monotonic() - started, 1)
    results["retrained"] = lp_metrics(complex_ranks(retrained, None, full_export.node_index, hold.test, every))

    out["ultra_pretrained_on"] = {}
    for checkpoint in filter(None, args.checkpoints.split(",")):
        name = Path(checkpoint).stem
        started = time.monotonic()
        results[f"ultra:{name}"] = {**lp_metrics(ultra_ranks(checkpoint, train, hold.test, every)),
                                    "seconds": round(time.monotonic() - started, 1)}
        out["ultra_pretrained_on"][name] = pretraining_graphs(checkpoint)
    out["link_prediction"] = results

    if args.types.exists():
        types = {e: set(c) for e, c in json.loads(args.types.read_text(encoding="utf-8")).items()}
        trained = torch.tensor([iri in base.export.node_index for iri in full_export.nodes])
        out["similar"] = {
            "folded_in": type_agreement(table, full_export.nodes, sorted(hold.held_out), trained, types),
            "retrained": type_agreement(retrained.entities, full_export.nodes, sorted(hold.held_out), trained, types),
        }
    out["hardware"] = hardware()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
