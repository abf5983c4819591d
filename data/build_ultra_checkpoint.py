"""Rebuild data/ultra/: the published ULTRA checkpoint kgrel ships, weights only, with its licence.

    python data/build_ultra_checkpoint.py [--source ../shared/data/ultra] [--name ultra_3g]

ultra_3g (pre-trained by its authors on FB15k-237, WN18RR and CoDEx-M) is shipped rather than ultra_4g,
which also saw NELL-995: so the NELL inductive graphs, and any graph outside those three, stay clean
tests of it. The authors' file also holds their optimizer state, which inference does not need.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from kgrel.models.graph.ultra_training import PRETRAINED_ON

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=HERE.parent.parent / "shared" / "data" / "ultra")
    parser.add_argument("--name", default="ultra_3g", choices=sorted(PRETRAINED_ON))
    args = parser.parse_args()
    out = HERE / "ultra"
    out.mkdir(exist_ok=True)
    state = torch.load(args.source / f"{args.name}.pth", map_location="cpu", weights_only=True)["model"]
    torch.save({k: v.contiguous() for k, v in state.items()}, out / f"{args.name}.pt")
    (out / f"{args.name}.json").write_text(json.dumps({
        "model": "ULTRA", "paper": "Galkin et al., Towards Foundation Models for Knowledge Graph Reasoning, ICLR 2024",
        "source": f"{args.name}.pth of the authors (github.com/DeepGraphLearning/ULTRA), weights only",
        "pretrained_on": PRETRAINED_ON[args.name], "license": "MIT (LICENSE beside this file)",
        "parameters": sum(v.numel() for v in state.values())}, indent=1) + "\n", encoding="utf-8")
    shutil.copy(args.source / "LICENSE", out / "LICENSE")
    print(f"wrote {out / (args.name + '.pt')}: {(out / (args.name + '.pt')).stat().st_size} bytes")


if __name__ == "__main__":
    main()
