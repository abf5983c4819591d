"""What every command shares: settings from flags, failing with a message, the common flags."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kgrel.app.config import Settings


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("data_dir", "store", "model", "encoder", "device", "precision"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def fail(message: str, code: int = 2) -> int:
    print(f"kgrel: {message}", file=sys.stderr)
    return code


def add_common(p: argparse.ArgumentParser, model: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, help="data directory (default: $KGREL_DATA_DIR or ./var)")
    p.add_argument("--store", help="store directory or SPARQL endpoint URL (default: DATA_DIR/store)")
    if model:
        p.add_argument("--model", help="relation model folder, or 'untrained'")
        p.add_argument("--encoder", help="Hugging Face encoder folder to use instead of the packaged one")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"])
        p.add_argument("--precision", choices=["fp32", "int8", "bf16"], help="encoder arithmetic (default fp32)")


def auth_headers(args: argparse.Namespace) -> dict:
    return {"X-API-Key": args.api_key} if getattr(args, "api_key", None) else {}


def load_model(args: argparse.Namespace):
    from kgrel.models.relation.model import RelationModel

    settings = settings_from(args)
    return RelationModel.load(settings.model_location(), encoder_dir=settings.encoder, device=settings.device,
                              precision=settings.precision)
