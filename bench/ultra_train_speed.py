"""How fast ULTRA fine-tunes, and how much memory a step takes, on a graph of your choosing.

    python -m bench.ultra_train_speed --train ../shared/data/codex/codex-s/train.txt [--batch-size 16]
        [--steps 20] [--negatives 128] [--device auto]

Builds the graph of the training triples, loads the shipped checkpoint and runs `--steps` training steps
of `--batch-size` triples (each asked both ways) as `kgrel kg train --gnn ultra` does. Reports seconds
per step (after a first, warm-up step) and the peak memory the steps took: resident memory above what
the process held before training on a CPU (Linux), allocated memory on a GPU; beside it, the estimate
the service cuts its batch by (`ultra_training.step_memory`). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from bench.common import hardware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="tab-separated training triples (.gz read compressed)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--negatives", type=int, default=128)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import psutil
    import torch

    from kgrel.app.config import Settings
    from kgrel.models.device import resolve_device
    from kgrel.models.graph.evaluation import read_triples
    from kgrel.models.graph.ultra import FactGraph, Ultra
    from kgrel.models.graph.ultra_training import UltraTrainConfig, Vocabulary, step_memory, train

    device = resolve_device(args.device)
    vocab = Vocabulary()
    triples = vocab.index(read_triples(args.train))
    graph = FactGraph.from_triples(triples, len(vocab.entities), len(vocab.relations)).to(device)
    model = Ultra.load(Settings().ultra_checkpoint, device)
    config = UltraTrainConfig(epochs=1, batch_size=args.batch_size, negatives=args.negatives)

    config.batches_per_epoch = 1  # warm-up: the first step allocates and builds what later steps reuse
    train(model, graph, triples, config)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = psutil.Process().memory_info().rss
    config.batches_per_epoch, config.seed = args.steps, 1
    started = time.perf_counter()
    history = train(model, graph, triples, config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
    else:  # ru_maxrss is the process's peak (kB on Linux); what the steps added above the loaded graph
        peak = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before)
    print(json.dumps({"train": str(args.train), "entities": graph.num_nodes, "facts": len(triples),
                      "batch_size": args.batch_size, "queries_per_step": 2 * args.batch_size,
                      "steps": args.steps, "seconds_per_step": round(seconds / args.steps, 3),
                      "peak_step_memory_gib": round(peak / 2**30, 2),
                      "estimated_step_memory_gib": round(step_memory(graph.num_nodes, args.batch_size) / 2**30, 2),
                      "loss": history[-1]["loss"],
                      "device": str(device), "hardware": hardware()}))


if __name__ == "__main__":
    main()
