"""The training recipe of a shipped relation model: relation-disjoint dev split, meta-training, calibration."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.calibration_fitting import fit_calibration
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import ModelConfig, RelationModel
from kgrel.models.relation.training import RelationTrainer, TrainConfig


@dataclass
class DevSplit:
    train: dict[str, list[RelationInstance]]
    dev: dict[str, list[RelationInstance]]  # relations never trained on: early stopping and calibration


def split_by_relation(data: dict[str, list[RelationInstance]], dev_relations: list[str] | None = None,
                      dev_count: int = 0, dev_per_relation: int = 200, seed: int = 0) -> DevSplit:
    """Hold out whole relations (named, or `dev_count` drawn with `seed`): the protocol never evaluates on
    relations it trained on."""
    if dev_relations:
        unknown = [r for r in dev_relations if r not in data]
        if unknown:
            raise ValueError(f"dev relations not in the data: {unknown}")
        names = list(dev_relations)
    else:
        names = sorted(random.Random(seed).sample(sorted(data), dev_count)) if dev_count else []
    dev = {r: data[r][:dev_per_relation] for r in names}
    return DevSplit({r: items for r, items in data.items() if r not in dev}, dev)


def train_relation_model(split: DevSplit, side_info: dict[str, RelationInfo], config: TrainConfig, out: Path, *,
                         encoder_dir: str | None = None, device: str = "auto", calibration_from: Path | None = None,
                         calibration_episodes: int = 300, progress: bool = True) -> dict:
    """Train from the base encoder, calibrate on the dev relations (or copy the calibration of the same
    recipe's held-out run when nothing is held out), evaluate on dev, and save the model folder."""
    torch.manual_seed(config.seed)
    model = RelationModel.load(None, encoder_dir=encoder_dir, device=device)
    model.config = ModelConfig(encoder=model.config.encoder, max_length=model.config.max_length)
    trainer = RelationTrainer(model, split.train, side_info, split.dev or None, config)
    result = trainer.train(progress=progress)
    if split.dev:
        calibration, report = fit_calibration(model, split.dev, side_info, n_way=min(10, len(split.dev) - 1),
                                              episodes=calibration_episodes, seed=config.seed)
        model.config.calibration = calibration.to_json()
        result["nota"] = report
        result["dev"] = trainer.evaluate(split.dev, settings=((5, 0), (5, 1), (5, 5), (10, 1)), episodes=1000, seed=0)
    elif calibration_from is not None:
        model.config.calibration = ModelConfig.load(Path(calibration_from)).calibration
        result["calibration_from"] = str(calibration_from)
    trainer.save(out, result)
    return result
