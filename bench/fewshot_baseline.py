"""The floor kgrel must beat: a plain frozen encoder with mean prototypes, on the same episodes as `kgrel eval`.

    python -m bench.fewshot_baseline --data FEWREL.json --n-way 5 --k-shot 1 --episodes 1000 --seed 0

Each sentence is encoded without entity markers and mean-pooled (the encoder's own sentence
embedding); a prototype is the mean of the K support embeddings; the query goes to the nearest
prototype by cosine. No side information, no mention read-out. The episodes come from the same
seeded sampler as `kgrel eval fewshot`, so the two numbers compare directly. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from kgrel.models.relation.encoder import TextEncoder
from kgrel.models.relation.episodes import sample_episodes
from kgrel.models.relation.evaluation import mean_ci95
from kgrel.models.relation.fewrel import load_fewrel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--k-shot", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", help="Hugging Face encoder folder (default: packaged all-MiniLM-L6-v2)")
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_fewrel(args.data)
    episodes = sample_episodes(data, args.n_way, args.k_shot, args.episodes, args.seed)
    needed = sorted({(r, i) for ep in episodes for r, s, q in zip(ep.relations, ep.support, ep.query, strict=True)
                     for i in [*s, q]})
    row = {key: n for n, key in enumerate(needed)}
    encoder = TextEncoder(args.encoder, device="cpu")
    vectors = encoder.encode_texts([data[r][i].text for r, i in needed])
    accuracies = []
    for ep in episodes:
        protos = F.normalize(torch.stack([vectors[[row[(r, i)] for i in s]].mean(0)
                                          for r, s in zip(ep.relations, ep.support, strict=True)]), dim=-1)
        queries = vectors[[row[(r, i)] for r, i in zip(ep.relations, ep.query, strict=True)]]
        accuracies.append(((queries @ protos.T).argmax(1) == torch.arange(args.n_way)).float().mean().item())
    accuracy, ci95 = mean_ci95(accuracies)
    print(json.dumps({"task": "fewshot_baseline", "readout": "plain mean-pooled sentence, mean prototypes",
                      "n_way": args.n_way, "k_shot": args.k_shot, "episodes": args.episodes, "seed": args.seed,
                      "accuracy": round(accuracy, 4), "ci95": round(ci95, 4), "relations": len(data),
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
