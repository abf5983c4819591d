"""Adapting a trained relation model to a user's domain from the examples they accepted.

The relation heads (and optionally the top encoder layers) are fine-tuned with the single-sentence
episodes of training (`document_training.DocumentTrainer` without documents: each query scored against
every episode relation, and reversed) on the user's relations. Validation is relation-disjoint: a seeded
share of the relations is held out, the model is scored on them before and after (N-way 1-shot and
0-shot), and the adapted model is kept only when it scores at least as well as the model it started
from. The result is a new model folder; the one it started from is left as it was, so a switch back is
always possible.

`recalibrate` is the light alternative: the model is left as it is and only its calibration is refitted
on the user's examples, so that its scores, and so none-of-the-above, mean on the user's text what
they mean on the text it was calibrated on. Seconds instead of minutes, and the ranking of relations
is unchanged.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.calibration_fitting import calibration_examples, fit_to_examples
from kgrel.models.relation.document_training import DocumentTrainConfig, DocumentTrainer
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import ENCODER_FILE, ModelConfig, RelationModel


class CannotAdapt(ValueError):
    """Too few examples or relations to adapt with a relation-disjoint validation split."""


@dataclass
class AdaptConfig:
    steps: int = 200
    train_layers: int = 0  # 0: the heads only (minutes on CPU); more: also the top encoder layers
    lr_heads: float = 1e-4
    lr_encoder: float = 1e-5
    validation_share: float = 0.4  # share of the relations held out; 2-way validation missed harm (README)
    min_examples: int = 2  # relations with fewer examples are left out
    episodes: int = 200  # validation episodes per setting
    eval_every: int = 50
    seed: int = 0
    force: bool = False  # keep the adapted model even when validation drops (the user's call)


@dataclass
class AdaptResult:
    kept: bool  # the adapted model was written: it validated no worse, or `force` was set
    before: dict[str, float]
    after: dict[str, float]
    train_relations: list[str]
    validation_relations: list[str]
    seconds: float
    steps: int
    validated: bool = False  # it validated at least as well as the model it started from

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RecalibrationResult:
    relations: list[str]
    examples: int
    calibration: dict  # K -> [a, b]: p = sigmoid(a * similarity + b)
    before: dict  # K -> [a, b] of the model it started from
    nota: dict  # per fitted K, on the examples' episodes: none-of-the-above recall, right-and-kept; before too
    seconds: float
    kind: str = "recalibration"

    def as_dict(self) -> dict:
        return asdict(self)


def recalibrate(base_dir: Path, examples: dict[str, list[RelationInstance]], side_info: dict[str, RelationInfo],
                out: Path, *, seed: int = 0, episodes: int = 300, device: str = "auto",
                encoder_dir: str | None = None) -> RecalibrationResult:
    """Write to `out` the model in `base_dir` with its calibration refitted on `examples`; the heads and
    encoder are copied unchanged. Raises `CannotCalibrate` when the examples are too few."""
    started = time.perf_counter()
    examples = calibration_examples(examples)
    model = RelationModel.load(base_dir, encoder_dir=encoder_dir, device=device)
    calibration, report = fit_to_examples(model, examples, side_info, episodes=episodes, seed=seed)
    base = ModelConfig.load(base_dir)
    outcome = RecalibrationResult(sorted(examples), sum(len(items) for items in examples.values()),
                                  calibration.to_json(), base.calibration, {str(k): v for k, v in report.items()},
                                  round(time.perf_counter() - started, 1))
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base_dir, tmp)
    base.calibration = outcome.calibration
    base.notes = f"{base.notes}; calibration refitted on {outcome.examples} examples of the user's " \
                 f"{len(outcome.relations)} relations".lstrip("; ")
    base.save(tmp)
    (tmp / "training.json").write_text(json.dumps({"result": {"adaptation": outcome.as_dict()}}, indent=1),
                                       encoding="utf-8")
    tmp.rename(out)  # the folder appears whole or not at all
    return outcome


def split_relations(examples: dict[str, list[RelationInstance]], config: AdaptConfig) -> tuple[list[str], list[str]]:
    """(training relations, validation relations), disjoint, drawn with the seed."""
    usable = sorted(r for r, items in examples.items() if len(items) >= config.min_examples)
    if len(usable) < 4:
        raise CannotAdapt(f"adapting needs at least 4 relations with {config.min_examples} or more examples each "
                          f"(2 to train on, 2 to validate on); the store has {len(usable)}")
    n_val = min(len(usable) - 2, max(2, round(config.validation_share * len(usable))))
    validation = sorted(random.Random(config.seed).sample(usable, n_val))
    return [r for r in usable if r not in validation], validation


def adapt(base_dir: Path, examples: dict[str, list[RelationInstance]], side_info: dict[str, RelationInfo],
          out: Path, config: AdaptConfig | None = None, *, device: str = "auto",
          encoder_dir: str | None = None) -> AdaptResult:
    """Fine-tune the model in `base_dir` on `examples` (relation -> instances) and write it to `out`
    when it validates at least as well as before; `out` is not written otherwise."""
    config = config or AdaptConfig()
    train_rel, val_rel = split_relations(examples, config)
    model = RelationModel.load(base_dir, encoder_dir=encoder_dir, device=device)  # untrained: heads start fresh
    train = {r: examples[r] for r in train_rel}
    val = {r: examples[r] for r in val_rel}
    smallest = min(len(items) for items in train.values())
    n_val = len(val_rel)
    settings = ((n_val, 1), (n_val, 0))
    trainer = DocumentTrainer(model, [], side_info, train_rel, DocumentTrainConfig(
        epochs=max(1, config.steps // config.eval_every), sentence_steps=config.eval_every,
        train_layers=config.train_layers, fewrel_way=min(10, len(train_rel)), fewrel_weight=1.0,
        k_choices=tuple(k for k in (0, 1, 2, 3, 5) if k <= smallest - 1) or (0,),
        lr_encoder=config.lr_encoder, lr_heads=config.lr_heads, warmup=min(20, config.steps // 4), seed=config.seed,
        notes=f"adapted from {base_dir} on {len(train_rel)} relations of the user's examples"),
        fewrel=train, dev_sentences=val)
    before = trainer.evaluate_sentences(val, settings=settings, episodes=config.episodes, seed=config.seed)
    result = trainer.train(progress=False)
    after = trainer.evaluate_sentences(val, settings=settings, episodes=config.episodes, seed=config.seed)
    validated = _mean(after) >= _mean(before)
    kept = config.force or validated
    outcome = AdaptResult(kept, _rounded(before), _rounded(after), train_rel, val_rel, result["seconds"],
                          result["steps"], validated)
    if kept:
        _save(trainer, model, base_dir, out, {**result, "adaptation": outcome.as_dict()})
    return outcome


def _save(trainer: DocumentTrainer, model: RelationModel, base_dir: Path, out: Path, result: dict) -> None:
    """The adapted folder: new heads, the base folder's trained encoder layers unless adapted too, and
    the base calibration (validation relations are too few to refit it)."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    base = ModelConfig.load(base_dir)
    trainer.save(tmp, result, calibration=base.calibration)
    if (base_dir / ENCODER_FILE).exists():
        # The base folder's fine-tuned layers, with those adapted now written over them.
        layers = load_file(str(base_dir / ENCODER_FILE))
        if (tmp / ENCODER_FILE).exists():
            layers.update(load_file(str(tmp / ENCODER_FILE)))
        save_file(layers, str(tmp / ENCODER_FILE))
    tmp.rename(out)  # the folder appears whole or not at all



def _mean(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores)


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in scores.items()}
