"""The training recipe of a shipped relation model: documents split by document, relations held out of
training (relation-disjoint dev), FewRel sentences beside the documents, and the model folder written."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.docred import LabelledDocument, split_documents, split_relations
from kgrel.models.relation.document_training import DocumentTrainConfig, DocumentTrainer
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import ModelConfig, RelationModel


@dataclass
class Recipe:
    dev_documents: int = 100  # documents held out (split seed below): early stopping and the dev figures
    dev_scored: int = 50  # of those, read at each epoch's evaluation
    held_out: list[str] = field(default_factory=list)  # relations never trained on (zero-shot dev)
    held_out_count: int = 0  # or: this many drawn (seed), the named ones included
    held_out_max_facts: int = 500  # drawn only among relations with fewer facts (the commonest are learnt)
    split_seed: int = 0


def held_out_relations(documents: list[LabelledDocument], recipe: Recipe) -> list[str]:
    counts = collections.Counter(r for d in documents for _, r, _ in d.facts)
    if not recipe.held_out_count:
        return sorted(r for r in recipe.held_out if r in counts)
    rare = [r for r in counts if counts[r] < recipe.held_out_max_facts]
    return split_relations(rare, recipe.held_out_count, recipe.split_seed, always=tuple(recipe.held_out))


def train_document_model(documents: list[LabelledDocument], side_info: dict[str, RelationInfo],
                         sentences: dict[str, list[RelationInstance]] | None, config: DocumentTrainConfig,
                         recipe: Recipe, out: Path, *, encoder_dir: str | None = None, device: str = "auto",
                         progress: bool = True) -> dict:
    """Train from the base encoder and save the model folder; returns the training record."""
    torch.manual_seed(config.seed)
    split = split_documents(documents, recipe.dev_documents, recipe.split_seed)
    held = held_out_relations(documents, recipe)
    relations = sorted({r for d in documents for _, r, _ in d.facts} - set(held))
    model = RelationModel.load(None, encoder_dir=encoder_dir, device=device)
    model.config = ModelConfig(encoder=model.config.encoder)
    sentences = {r: xs for r, xs in (sentences or {}).items() if r not in set(held)}
    trainer = DocumentTrainer(model, split.train, side_info, relations, config, split.dev[:recipe.dev_scored], held,
                              sentences)
    result = trainer.train(progress=progress)
    result.update({"documents": len(split.train), "dev_documents": len(split.dev), "split_seed": recipe.split_seed})
    trainer.save(out, result)
    return {"relations": relations, "held_out": held, **result}
