"""Does the graph pay? Relation classification with and without it, at K = 0, 1, 5, on unseen relations.

    python -m bench.build_eval_data --out runs/eval          # dev.json and graph.nt.gz
    python -m bench.graph_ablation --data runs/eval/dev.json --kg runs/eval/graph.nt.gz \\
        --kg-embeddings runs/eval/kgemb --model runs/fold0 [--episodes 1000] [--plot docs/graph_ablation.png] \\
        [--ultra-checkpoint PATH|none] [--variants "no graph;plausibility (ULTRA) only"]

Same episodes with and without the graph (seeded); the graph variants add, one at a time then all
together, the relations' observed domain/range (side information) and each kind of graph evidence;
plausibility comes from the graph embeddings (ComplEx) or, in the ULTRA variants, from the shipped
ULTRA checkpoint reasoning over the graph with no training.
Also reports coverage, and accuracy on the queries the graph knows something about. Prints one JSON
object (and a PNG of accuracy vs K).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from bench.common import ROOT
from kgrel.kg.ingest import ingest_file
from kgrel.kg.store import EmbeddedStore
from kgrel.models.fusion.evaluation import evidence_for_file
from kgrel.models.relation.episodes import EpisodeEncoder, sample_episodes
from kgrel.models.relation.evaluation import evaluate_zeroshot, mean_ci95
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import PrototypicalClassifier

KINDS = ("hypernyms", "argument_fit", "plausibility")


def run_episodes(model, data, side_info, graph, n_way, k, episodes, seed):
    """Accuracy over all queries, and over the queries that have graph evidence for their own relation."""
    eps = sample_episodes(data, n_way, k, episodes, seed)
    encoded = EpisodeEncoder(model, data, eps, side_info, desc=f"K={k}", evidence=graph)
    classifier = PrototypicalClassifier(model)
    per_episode, covered_right, covered = [], 0, 0
    for ep in eps:
        evidence = encoded.evidence(ep.relations, ep.query)
        scores = classifier.similarity(*encoded.queries(ep.relations, ep.query),
                                       encoded.prototypes(ep.relations, ep.support), evidence=evidence)
        right = scores.argmax(1) == torch.arange(n_way)
        per_episode.append(right.float().mean().item())
        if evidence is not None:
            has = torch.stack([m for m in evidence.masks.values()]).any(0).diagonal()
            covered += int(has.sum())
            covered_right += int((right & has).sum())
    accuracy, ci = mean_ci95(per_episode)
    return {"accuracy": round(accuracy, 4), "ci95": round(ci, 4),
            "covered_queries": covered, "covered_accuracy": round(covered_right / covered, 4) if covered else None}


ULTRA_VARIANTS = ("plausibility (ULTRA) only", "all graph evidence (ULTRA plausibility)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--kg", required=True)
    parser.add_argument("--kg-embeddings", help="trained embeddings folder (trained and saved there when empty), "
                                                "or 'none' for no embeddings: variants without argument fit or "
                                                "the embeddings' plausibility, in minutes instead of a training")
    parser.add_argument("--side-info", default=str(ROOT.parent / "shared/data/fewrel/pid2name.json"))
    parser.add_argument("--model", help="relation model folder (default: the shipped one)")
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--ks", default="0,1,5")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot")
    parser.add_argument("--ultra-checkpoint", default=str(ROOT / "data" / "ultra" / "ultra_3g.pt"),
                        help="ULTRA weights for the ULTRA-plausibility variants; 'none' leaves them out")
    parser.add_argument("--variants", help="names of the variants to run, separated by semicolons (default: all)")
    args = parser.parse_args()

    from kgrel.app.config import Settings

    model = RelationModel.load(args.model or Settings().model_location(), device="cpu")
    data = load_fewrel(args.data)
    side_info = load_side_info(args.side_info)
    store = EmbeddedStore(None)
    ingest_file(store, Path(args.kg))
    ultra_checkpoint = None if args.ultra_checkpoint == "none" else args.ultra_checkpoint
    wanted = [v.strip() for v in args.variants.split(";")] if args.variants else None
    if wanted is not None and not set(wanted) & set(ULTRA_VARIANTS):
        ultra_checkpoint = None  # no variant asked needs ULTRA: its passes over the graph take minutes
    no_embeddings = args.kg_embeddings == "none"
    with_ultra = evidence_for_file(data, side_info, store, embeddings_dir=None if no_embeddings else args.kg_embeddings,
                                   embeddings=not no_embeddings, ultra_checkpoint=ultra_checkpoint)
    full = dataclasses.replace(with_ultra, ultra=None)  # plausibility from the embeddings
    enriched, coverage = full.side_info, full.coverage
    # Each variant's evidence reads domain/range from the side information that variant uses.
    graph = dataclasses.replace(full, side_info=side_info)
    base_weights = dict(model.config.graph_weights)
    variants = {"no graph": (side_info, None, {}),
                "observed domain/range only": (enriched, None, {})}
    for kind in KINDS:
        variants[f"{kind} only"] = (side_info, graph, {kind: base_weights.get(kind, 1.0)})
    variants["all graph evidence"] = (enriched, full, {k: base_weights.get(k, 1.0) for k in KINDS})
    if ultra_checkpoint is not None:
        only, everything = ULTRA_VARIANTS
        variants[only] = (side_info, dataclasses.replace(with_ultra, side_info=side_info),
                          {"plausibility": base_weights.get("plausibility", 1.0)})
        variants[everything] = (enriched, with_ultra, {k: base_weights.get(k, 1.0) for k in KINDS})
    if wanted is not None:
        unknown = [v for v in wanted if v not in variants]
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {list(variants)}")
        variants = {name: variants[name] for name in wanted}
    results: dict = {}
    for name, (info, g, weights) in variants.items():
        model.config.graph_weights = {k: weights.get(k, 0.0) for k in base_weights}
        row = {}
        for k in (int(x) for x in args.ks.split(",")):
            row[f"K={k}"] = run_episodes(model, data, info, g, args.n_way, k, args.episodes, args.seed)
        zs = evaluate_zeroshot(model, data, info, evidence=g)
        row["zeroshot_all_way"] = {"accuracy": zs["accuracy"], "macro_f1": zs["macro_f1"]}
        results[name] = row
        print(json.dumps({name: row}), file=sys.stderr)
    model.config.graph_weights = base_weights
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ks = [int(x) for x in args.ks.split(",")]
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for name in [n for n in ("no graph", "observed domain/range only", "all graph evidence") if n in results]:
            ax.plot(ks, [results[name][f"K={k}"]["accuracy"] for k in ks], marker="o", label=name)
        ax.set(xlabel="examples per relation (K)", ylabel=f"{args.n_way}-way accuracy", xticks=ks)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    print(json.dumps({"task": "graph_ablation", "n_way": args.n_way, "episodes": args.episodes, "seed": args.seed,
                      "relations": sorted(data), "coverage": coverage, "results": results,
                      "graph_weights": base_weights}))


if __name__ == "__main__":
    main()
