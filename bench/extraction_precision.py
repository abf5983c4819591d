"""Extraction as a curator meets it, on single sentences (GUIDE section 3): right relation, reversed false
facts, none-of-the-above recall and fact precision at K = 0, 1, 5, and their curve over the threshold.

    python -m bench.extraction_precision --data runs/eval/dev_balanced.json [--shots 0,1,5] [--per-relation 50]
        [--seeds 1] [--model DIR] [--png docs/extraction_precision.png]

Runs `kgrel eval sentences` (the service's own prediction, in process) for each seed and reports each
figure's mean over the seeds. Use relations the model never trained on. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from bench.common import SHARED, hardware
from kgrel.app.cli.common import add_common, settings_from
from kgrel.app.cli.sentences import evaluate

FIGURES = ("right", "reversed_false_facts", "nota_recall", "fact_precision")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k, scored in results["by_shots"].items():
        points = [p for p in scored["curve"] if p["fact_precision"] is not None]
        ax.plot([p["right"] for p in points], [p["fact_precision"] for p in points], marker=".", label=f"K = {k}")
    ax.set_xlabel("right relation (share of sentences asked)")
    ax.set_ylabel("fact precision (correct / returned)")
    ax.set_title("threshold 0.05 to 0.95")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--side-info", default=str(SHARED / "fewrel" / "pid2name.json"))
    parser.add_argument("--shots", default="0,1,5")
    parser.add_argument("--per-relation", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="draws of examples and queries, from --seed on")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--png", type=Path)
    add_common(parser)
    args = parser.parse_args()
    settings = settings_from(args)
    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        one = copy.copy(args)
        one.seed = seed
        runs.append(evaluate(one, settings))
    mean = {k: {f: round(sum(r["by_shots"][k][f] or 0 for r in runs) / len(runs), 4) for f in FIGURES}
            for k in runs[0]["by_shots"]}
    if args.png:
        plot(runs[0], args.png)
    print(json.dumps({"task": "extraction_precision", "data": args.data, "seeds": args.seeds, "mean": mean,
                      "threshold": {k: v["threshold"] for k, v in runs[0]["by_shots"].items()},
                      "runs": runs, "hardware": hardware()}))


if __name__ == "__main__":
    main()
