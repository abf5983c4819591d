"""Training the relation model (documents, and sentences alone), the shipped checkpoint, int8 quantization."""

from __future__ import annotations

import json

import pytest
import torch

from kgrel.app.config import SHIPPED
from kgrel.models.relation.docred import load_docred, relation_infos
from kgrel.models.relation.document_training import DocumentTrainConfig, DocumentTrainer
from kgrel.models.relation.evaluation import evaluate_fewshot, zeroshot_report, zeroshot_scores
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.model import RelationModel
from tests.conftest import DATA

SHIPPED_MODEL = SHIPPED / "models" / "kgrel-minilm"


@pytest.fixture(scope="module")
def fixture_data():
    return load_fewrel(DATA / "tiny_fewrel.json"), load_side_info(DATA / "tiny_side_info.json")


def fact_probabilities(model: RelationModel, docs, relations, side_info) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-shot probabilities of every (pair reading, relation) of the documents: (those that hold, the rest)."""
    from kgrel.models.relation.prototypes import PrototypeCache, PrototypicalClassifier

    protos = PrototypeCache(model).build([side_info[r] for r in relations])
    classifier = PrototypicalClassifier(model)
    held, rest = [], []
    for doc in docs:
        n = len(doc.document.entities)
        pairs = [(a, b) for a in range(n) for b in range(n) if a != b and (a, b) not in doc.withheld]
        views = model.read_pairs([doc.document], [pairs])[0]
        probs = classifier.probabilities(views.example, views.side, protos)
        for (a, b), row in zip(pairs, probs, strict=True):
            for j, r in enumerate(relations):
                (held if (a, r, b) in doc.facts else rest).append(float(row[j]))
    return torch.tensor(held), torch.tensor(rest)


def test_training_on_documents_separates_facts_and_saves_what_it_learnt(fixture_data, tmp_path):
    data, side_info = fixture_data
    docs = load_docred(DATA / "tiny_docred.json")
    relations = sorted({r for d in docs for _, r, _ in d.facts})
    side_info = {**side_info, **relation_infos(DATA / "tiny_docred_side_info.json", relations)}
    model = RelationModel.load(None, device="cpu")
    trainer = DocumentTrainer(model, docs, side_info, relations, DocumentTrainConfig(
        epochs=15, train_layers=1, docs_per_step=2, k_choices=(0, 1), warmup=3, lr_encoder=1e-4, lr_heads=3e-3,
        refresh_every=5, fewrel_way=3, seed=0), fewrel=data)
    result = trainer.train(progress=False)
    losses = [h["loss"] for h in result["history"]]
    assert losses[-1] < losses[0]
    held, rest = fact_probabilities(model, docs, relations, side_info)
    # Every fact of the documents now scores above every pair reading that states nothing of that relation
    # but a few, and the learnt calibration makes most facts' probabilities exceed the others' by far.
    assert (held[:, None] > rest[None, :]).float().mean() > 0.9
    assert held.mean() > 4 * rest.mean()
    trainer.save(tmp_path / "m", result)
    reloaded = RelationModel.load(tmp_path / "m", device="cpu")
    again, _ = fact_probabilities(reloaded, docs, relations, side_info)
    assert torch.allclose(again, held, atol=0.03)  # the folder (fp16 weights) gives the trained model back
    assert json.loads((tmp_path / "m" / "training.json").read_text())["relations"] == relations


def test_sentences_alone_adapt_the_model_and_teach_direction(fixture_data):
    data, side_info = fixture_data
    untrained = RelationModel.load(None, device="cpu")
    before = evaluate_fewshot(untrained, data, 6, 1, 60, 3, side_info)["accuracy"]
    direction_before = direction_margin(untrained, data, side_info)
    model = RelationModel.load(None, device="cpu")
    trainer = DocumentTrainer(model, [], side_info, sorted(data), DocumentTrainConfig(
        epochs=4, sentence_steps=10, train_layers=1, k_choices=(0, 1, 2), warmup=5, lr_encoder=1e-4,
        lr_heads=3e-3, fewrel_way=6, fewrel_weight=1.0, seed=0), fewrel=data)
    trainer.train(progress=False)
    assert evaluate_fewshot(model, data, 6, 1, 60, 3, side_info)["accuracy"] > before
    # Each episode also reads its queries reversed, as stating none of its relations.
    after = direction_margin(model, data, side_info)
    assert after > direction_before and after >= 0.8, (direction_before, after)


def direction_margin(model: RelationModel, data, side_info) -> float:
    """Share of sentences whose gold relation scores higher (zero-shot) as asked than with head and tail swapped."""
    from kgrel.models.relation.prototypes import PrototypeCache, PrototypicalClassifier

    relations = sorted(data)
    protos = PrototypeCache(model).build([side_info[r] for r in relations])
    sentences = [x for r in relations for x in data[r]]
    gold = torch.tensor([g for g, r in enumerate(relations) for _ in data[r]])
    classifier = PrototypicalClassifier(model)
    asked, flipped = model.embed_both_ways(sentences)
    asked, flipped = classifier.similarity(*asked, protos), classifier.similarity(*flipped, protos)
    rows = torch.arange(len(gold))
    return (asked[rows, gold] > flipped[rows, gold]).float().mean().item()


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
