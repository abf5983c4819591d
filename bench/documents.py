"""Facts from real documents, the way a curator reads them (GUIDE section 3, documents protocol).

    python -m bench.documents [--docs dev_docs.json] [--eval-count 100] [--limit N] [--shots 0,1,5]
        [--mentions given|found] [--no-types] [--graph-facts] [--http] [--model DIR] [--png docs/documents.png]

Runs `kgrel eval documents` (the service's own extraction, in process, on the held-out documents of the
seeded split training used) and draws its precision/recall curves: one line per K, relations the model
trained on and relations it never saw apart. Prints the evaluation's JSON object last.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import SHARED, hardware
from kgrel.app.cli.common import add_common, settings_from
from kgrel.app.cli.documents import evaluate


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # A panel per group that has facts to find (a model trained on every relation has no held-out panel).
    shots = next(iter(results["by_shots"].values()))
    panels = [(g, t) for g, t in (("trained", "relations trained on"), ("held_out", "relations never trained on"))
              if shots["groups"][g]["gold"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (group, title) in zip(axes[0], panels, strict=True):
        for k, scored in results["by_shots"].items():
            points = scored["curve"][group]
            ax.plot([p["recall"] for p in points], [p["precision"] for p in points], marker=".", label=f"K = {k}")
        ax.set_title(title)
        ax.set_xlabel("recall of all facts")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("precision (right facts / facts returned)")
    fig.suptitle(f"{results['documents']} held-out documents, mentions {results['mentions']}, threshold 0.05-0.95")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=str(SHARED / "redocred" / "dev_docs.json"))
    parser.add_argument("--side-info", default=str(SHARED / "fewrel" / "pid2name.json"))
    parser.add_argument("--eval-count", type=int, default=100)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--shots", default="0,1,5")
    parser.add_argument("--mentions", choices=["given", "found"], default="given")
    parser.add_argument("--no-types", action="store_true")
    parser.add_argument("--graph-facts", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--http", action="store_true", help="read each document through POST /extract (loopback)")
    parser.add_argument("--png", type=Path)
    add_common(parser)
    args = parser.parse_args()
    results = evaluate(args, settings_from(args))
    results["hardware"] = hardware()
    if args.png:
        plot(results, args.png)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
