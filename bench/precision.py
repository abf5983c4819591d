"""Encoder precision: fp32 vs int8 dynamic quantization (vs bf16) — accuracy and speed in one run.

    python -m bench.precision --data FEWREL.json [--relations P1,P2,...] [--side-info pid2name.json]
                              [--model DIR] [--precisions fp32,int8,bf16]

For each precision: 5-way 1-shot accuracy over seeded episodes and zero-shot accuracy (N-way over the
chosen relations, side information only), plus sentences/s of the relation model's encoding on the
same sentences in batches of 32, and agreement of the top relation with fp32. Use relations the
model never trained on. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from bench.common import ROOT, hardware
from kgrel.models.relation.evaluation import evaluate_fewshot, zeroshot_report, zeroshot_scores
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.model import RelationModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--relations", help="comma-separated relation ids to keep (default: all)")
    parser.add_argument("--side-info", default=str(ROOT.parent / "shared/data/fewrel/pid2name.json"))
    parser.add_argument("--model", help="relation model folder (default: the shipped one)")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--per-relation", type=int, default=100)
    parser.add_argument("--speed-sentences", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from kgrel.app.config import Settings

    model_dir = args.model or Settings().model_location()
    data: dict = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items)
    if args.relations:
        keep = [r.strip() for r in args.relations.split(",")]
        data = {r: data[r] for r in keep}
    data = {r: items[:args.per_relation] for r, items in data.items()}
    side_info = load_side_info(args.side_info)
    sentences = [x for items in data.values() for x in items][: args.speed_sentences]

    results = {}
    reference = None
    for precision in args.precisions.split(","):
        model = RelationModel.load(model_dir, device="cpu", precision=precision)
        model.embed_instances(sentences[:32])  # warm-up
        start = time.perf_counter()
        model.embed_instances(sentences)  # timed; the views themselves are not needed here
        speed = len(sentences) / (time.perf_counter() - start)
        fewshot = evaluate_fewshot(model, data, 5, 1, args.episodes, args.seed, side_info)
        scores, gold = zeroshot_scores(model, data, side_info)
        zeroshot = zeroshot_report(scores, gold)
        top = scores.argmax(1)  # zero-shot top relation of every sentence
        if reference is None:
            reference = top
        results[precision] = {"sent_per_s": round(speed, 1), "fewshot_5w1s": fewshot["accuracy"],
                              "fewshot_ci95": fewshot["ci95"], "zeroshot_accuracy": zeroshot["accuracy"],
                              "zeroshot_macro_f1": zeroshot["macro_f1"],
                              "top_relation_agreement_with_fp32": round((top == reference).float().mean().item(), 4)}
        print(json.dumps({precision: results[precision]}), file=sys.stderr)
    fp32 = results.get("fp32")
    for precision, r in results.items():
        if fp32 and precision != "fp32":
            r["speedup_vs_fp32"] = round(r["sent_per_s"] / fp32["sent_per_s"], 2)
            r["fewshot_points_lost"] = round(100 * (fp32["fewshot_5w1s"] - r["fewshot_5w1s"]), 2)
            r["zeroshot_points_lost"] = round(100 * (fp32["zeroshot_accuracy"] - r["zeroshot_accuracy"]), 2)
    print(json.dumps({"task": "precision", "model": model_dir, "relations": sorted(data), "episodes": args.episodes,
                      "results": results, "hardware": hardware(), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
