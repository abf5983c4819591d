"""A relation model whose fine-tuned encoder layers are moved back toward the packaged encoder's:
w = w_packaged + alpha (w_trained - w_packaged), the heads kept (WiSE-FT, Wortsman et al., CVPR 2022).

    python bench/weight_interpolation.py --model data/models/kgrel-minilm --alpha 0.75 --out runs/wise75
    kgrel calibrate --model runs/wise75 --data runs/eval/dev.json --side-info ../shared/data/fewrel/pid2name.json \\
        --out runs/wise75

Fine-tuning on Wikipedia and news relations specialises the encoder; moving part of the way back
trades some of that for robustness on text unlike the training text. The folder written is a
model folder like any other (calibrate it again: the scores move). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgrel.models.relation.model import ENCODER_FILE, RelationModel  # noqa: E402


def interpolate(trained: dict[str, torch.Tensor], packaged: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """packaged + alpha (trained - packaged) for every tensor training changed, in the trained dtype."""
    return {name: (packaged[name].float() + alpha * (w.float() - packaged[name].float())).to(w.dtype).contiguous()
            for name, w in trained.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "data/models/kgrel-minilm")
    parser.add_argument("--alpha", type=float, required=True, help="1: the trained model; 0: the packaged encoder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        parser.error("--alpha must be between 0 and 1")
    trained = load_file(str(args.model / ENCODER_FILE))
    packaged = RelationModel.load(None, device="cpu").encoder.model.state_dict()
    shutil.copytree(args.model, args.out, dirs_exist_ok=True)
    save_file(interpolate(trained, packaged, args.alpha), str(args.out / ENCODER_FILE))
    print(json.dumps({"model": str(args.model), "alpha": args.alpha, "out": str(args.out),
                      "tensors": len(trained)}))


if __name__ == "__main__":
    main()
