"""Training the relation model, the shipped checkpoint, and int8 quantization."""

from __future__ import annotations

import json

import pytest
import torch

from kgrel.app.config import SHIPPED
from kgrel.models.relation.evaluation import evaluate_fewshot, zeroshot_report, zeroshot_scores
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.training import RelationTrainer, TrainConfig
from tests.conftest import DATA

SHIPPED_MODEL = SHIPPED / "models" / "kgrel-minilm"


@pytest.fixture(scope="module")
def fixture_data():
    return load_fewrel(DATA / "tiny_fewrel.json"), load_side_info(DATA / "tiny_side_info.json")


def test_short_training_lowers_the_loss_and_beats_the_untrained_model(fixture_data, tmp_path):
    data, side_info = fixture_data
    untrained = RelationModel.load(None, device="cpu")
    before = evaluate_fewshot(untrained, data, 6, 1, 60, 3, side_info)["accuracy"]
    model = RelationModel.load(None, device="cpu")
    trainer = RelationTrainer(model, data, side_info, None, TrainConfig(
        train_layers=1, steps=40, n_way=6, k_choices=(0, 1, 2), eval_every=10, lr_encoder=1e-4, lr_heads=3e-3,
        warmup=5, seed=0))
    result = trainer.train(progress=False)
    losses = [h["loss"] for h in result["history"]]
    assert losses[-1] < losses[0]
    after = evaluate_fewshot(model, data, 6, 1, 60, 3, side_info)["accuracy"]
    assert after > before
    trainer.save(tmp_path / "m", result)
    reloaded = RelationModel.load(tmp_path / "m", device="cpu")
    # The saved folder (fp16 weights) gives the trained model back.
    again = evaluate_fewshot(reloaded, data, 6, 1, 60, 3, side_info)["accuracy"]
    assert abs(again - after) <= 0.05
    assert (tmp_path / "m" / "training.png").stat().st_size > 1000


def direction_margin(model: RelationModel, data, side_info) -> float:
    """Share of sentences whose gold relation scores higher (zero-shot) as asked than with head and tail swapped."""
    from kgrel.models.relation.instances import reverse
    from kgrel.models.relation.prototypes import PrototypeCache, PrototypicalClassifier

    relations = sorted(data)
    protos = PrototypeCache(model).build([side_info[r] for r in relations])
    sentences = [x for r in relations for x in data[r]]
    gold = torch.tensor([g for g, r in enumerate(relations) for _ in data[r]])
    classifier = PrototypicalClassifier(model)
    asked = classifier.similarity(*model.embed_instances(sentences), protos)
    flipped = classifier.similarity(*model.embed_instances([reverse(x) for x in sentences]), protos)
    rows = torch.arange(len(gold))
    return (asked[rows, gold] > flipped[rows, gold]).float().mean().item()


def test_reversed_pairs_and_outside_queries_teach_direction(fixture_data):
    data, side_info = fixture_data
    model = RelationModel.load(None, device="cpu")
    before = direction_margin(model, data, side_info)
    config = TrainConfig(train_layers=1, steps=40, n_way=4, k_choices=(0, 1), eval_every=20, lr_encoder=1e-4,
                         lr_heads=3e-3, warmup=5, seed=0, nota_rates=(0.0, 0.5), reverse_share=1.0)
    trainer = RelationTrainer(model, data, side_info, None, config)
    trainer.train(progress=False)
    after = direction_margin(model, data, side_info)
    assert after > before and after >= 0.9, (before, after)


@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="no trained model shipped")
def test_shipped_checkpoint_gives_its_documented_fixture_accuracy(fixture_data):
    data, side_info = fixture_data
    documented = json.loads((SHIPPED_MODEL / "fixture.json").read_text())
    model = RelationModel.load(SHIPPED_MODEL, device="cpu")
    assert model.heads.trained and model.config.calibration
    fewshot = evaluate_fewshot(model, data, 5, 1, documented["episodes"], documented["seed"], side_info)
    scores, gold = zeroshot_scores(model, data, side_info)
    zeroshot = zeroshot_report(scores, gold)
    assert fewshot["accuracy"] == pytest.approx(documented["fewshot_5w1s"], abs=0.02)
    assert zeroshot["accuracy"] == pytest.approx(documented["zeroshot_accuracy"], abs=0.02)
    assert torch.allclose(scores, torch.tensor(documented["zeroshot_scores"]), atol=0.01)
    size = sum(p.stat().st_size for p in SHIPPED_MODEL.iterdir() if p.suffix == ".safetensors")
    assert size < 25 * 2**20


@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="no trained model shipped")
def test_int8_and_fp32_agree_on_the_top_relation(fixture_data):
    data, side_info = fixture_data
    results = {}
    for precision in ("fp32", "int8"):
        model = RelationModel.load(SHIPPED_MODEL, device="cpu", precision=precision)
        results[precision] = zeroshot_scores(model, data, side_info)[0].argmax(1)
    assert (results["fp32"] == results["int8"]).float().mean() >= 0.95
