"""Training and evaluating ULTRA (`models.graph.ultra`): from scratch or fine-tuned from a checkpoint, and
ranked on any graph, the one it trained on or one it never saw (the inductive protocol).

Training asks each (h, r, t) of the graph both ways, as a tail among `negatives` sampled entities that
are not true answers, with that very edge taken out of the graph so it cannot answer itself; the loss
is binary cross-entropy with self-adversarial weights on the negatives (Sun et al., 2019), as the
authors train it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.nn import functional as F

from kgrel.models.device import available_memory, resolve_device
from kgrel.models.graph.evaluation import lp_metrics, read_triples
from kgrel.models.graph.ultra import DIM, FactGraph, Ultra
from kgrel.models.statistics import mean_ci95


@dataclass
class UltraTrainConfig:
    epochs: int = 10
    batch_size: int = 16  # triples per step (each asked both ways)
    lr: float = 5e-4
    negatives: int = 128
    adversarial_temperature: float = 1.0
    batches_per_epoch: int | None = None  # None: every triple once per epoch
    time_limit_s: float | None = None
    seed: int = 0


# What one training query holds at the peak of a step, in (nodes, dim) float32 states: measured at 35-40
# with bench/ultra_train_speed.py (CoDEx-S 0.62 GiB, CoDEx-M 4.5 GiB for 32 queries), rounded up for headroom.
STATES_PER_QUERY = 48


class GraphTooLarge(ValueError):
    """Not even one triple per training step fits in the memory training may use."""


def step_memory(num_nodes: int, batch_size: int, dim: int = DIM) -> int:
    """Bytes a training step of `batch_size` triples (each asked both ways) is expected to hold."""
    return STATES_PER_QUERY * 2 * batch_size * num_nodes * dim * 4


def fitting_batch_size(num_nodes: int, requested: int, budget_bytes: int) -> int:
    """`requested` triples per step, or fewer so that a step fits in `budget_bytes`; a graph where not even
    one fits is refused before training starts, instead of the process being killed for memory."""
    per_triple = step_memory(num_nodes, 1)
    fits = budget_bytes // per_triple
    if fits < 1:
        raise GraphTooLarge(
            f"a graph of {num_nodes:,} entities needs about {_size(per_triple)} per training step "
            f"and {_size(budget_bytes)} may be used: train on a GPU or a larger machine, on a named graph that "
            "holds part of the facts, or raise the memory allowed for training")
    return min(requested, fits)


def training_budget(device: torch.device | str, allowed_mb: int | None = None) -> int:
    """Bytes a training step may hold: `allowed_mb` when set (KGREL_TRAIN_MEMORY_MB), else half of what is
    free now."""
    return allowed_mb * 2**20 if allowed_mb else available_memory(device) // 2


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class Answers:
    """Every true answer of each (entity, relation) question, both ways (r + R asks for heads)."""

    def __init__(self, triples: torch.Tensor, num_relations: int):
        self.num_relations = num_relations
        self._answers: dict[tuple[int, int], list[int]] = {}
        for h, r, t in triples.tolist():
            self._answers.setdefault((h, r), []).append(t)
            self._answers.setdefault((t, r + num_relations), []).append(h)

    def of(self, entity: int, relation: int) -> list[int]:
        return self._answers.get((entity, relation), [])


def both_ways(triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """(h, r, t) and (t, r + R, h) for each triple: every question asks for a tail."""
    h, r, t = triples.t()
    return torch.cat([triples, torch.stack([t, r + num_relations, h], dim=1)])


def _negatives(queries: torch.Tensor, answers: Answers, num_nodes: int, count: int,
               generator: torch.Generator) -> torch.Tensor:
    """`count` random entities per query that are not among its true answers (drawn again when they are)."""
    out = torch.randint(num_nodes, (len(queries), count), generator=generator)
    for row, (h, r, _) in enumerate(queries.tolist()):
        true = answers.of(h, r)
        if not true:
            continue
        true_set = torch.tensor(true)
        bad = torch.isin(out[row], true_set)
        while bad.any():
            out[row, bad] = torch.randint(num_nodes, (int(bad.sum()),), generator=generator)
            bad = torch.isin(out[row], true_set)
    return out


def train(model: Ultra, graph: FactGraph, triples: torch.Tensor, config: UltraTrainConfig,
          on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `model` on `graph`'s own triples; returns the loss per epoch."""
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    device = next(model.parameters()).device
    num_rel = graph.num_relations // 2
    answers = Answers(triples, num_rel)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    started = time.monotonic()
    history = []
    model.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(triples), generator=generator)
        steps = math.ceil(len(order) / config.batch_size)
        if config.batches_per_epoch:
            steps = min(steps, config.batches_per_epoch)
        losses = []
        for step in range(steps):
            batch = triples[order[step * config.batch_size:(step + 1) * config.batch_size]]
            queries = both_ways(batch, num_rel)
            candidates = torch.cat([queries[:, 2:3], _negatives(queries, answers, graph.num_nodes,
                                                                config.negatives, generator)], dim=1)
            queries, candidates = queries.to(device), candidates.to(device)
            logits = model(graph.without(batch.to(device)), queries[:, 0], queries[:, 1], candidates)
            target = torch.zeros_like(logits)
            target[:, 0] = 1
            loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            weight = torch.ones_like(logits)
            with torch.no_grad():
                weight[:, 1:] = F.softmax(logits[:, 1:] / config.adversarial_temperature, dim=-1)
            loss = ((loss * weight).sum(-1) / weight.sum(-1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if config.time_limit_s is not None and time.monotonic() - started > config.time_limit_s:
                break
        record = {"epoch": epoch, "loss": round(sum(losses) / len(losses), 5),
                  "seconds": round(time.monotonic() - started, 1)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if config.time_limit_s is not None and time.monotonic() - started > config.time_limit_s:
            break
    model.eval()
    return history


@torch.no_grad()
def ranks(model: Ultra, graph: FactGraph, triples: torch.Tensor, answers: Answers, negatives: int = 50,
          seed: int = 0, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Ranks of each triple's true tail and true head (both ways), ties counted against the answer (as
    the authors count them, so figures compare): among every entity but the other true answers
    (filtered ranking), and among `negatives` distinct random entities that are not true answers
    (GraIL's protocol, with 50)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    queries = both_ways(triples, graph.num_relations // 2)
    full, sampled = [], []
    for start in range(0, len(queries), batch_size):
        q = queries[start:start + batch_size]
        scores = model(graph, q[:, 0].to(device), q[:, 1].to(device)).cpu()
        target = scores.gather(1, q[:, 2:3])
        candidate = torch.ones_like(scores, dtype=torch.bool)
        for row, (h, r, t) in enumerate(q.tolist()):
            candidate[row, answers.of(h, r)] = False
            candidate[row, t] = False
        beaten = (scores >= target) & candidate
        full.append(beaten.sum(1) + 1)
        for row in range(len(q)):
            pool = candidate[row].nonzero().squeeze(1)
            drawn = pool[torch.randperm(len(pool), generator=generator)[:negatives]]
            sampled.append(int(beaten[row, drawn].sum()) + 1)
    return torch.cat(full), torch.tensor(sampled)


class Vocabulary:
    """Ids of the entities and relations of string triples, in order of first appearance."""

    def __init__(self):
        self.entities: dict[str, int] = {}
        self.relations: dict[str, int] = {}

    def index(self, rows: list[tuple[str, str, str]]) -> torch.Tensor:
        out = [(self.entities.setdefault(h, len(self.entities)), self.relations.setdefault(r, len(self.relations)),
                self.entities.setdefault(t, len(self.entities))) for h, r, t in rows]
        return torch.tensor(out, dtype=torch.long).reshape(-1, 3)


# What the published checkpoints were pre-trained on (Galkin et al., 2024), to say which figures can be leaky.
PRETRAINED_ON = {"ultra_3g": ["FB15k-237", "WN18RR", "CoDEx-M"],
                 "ultra_4g": ["FB15k-237", "WN18RR", "CoDEx-M", "NELL-995"]}


def pretraining_graphs(checkpoint: str | Path | None) -> list[str] | None:
    """The graphs a checkpoint learned from: its sidecar JSON's `pretrained_on`, else the published
    checkpoints' by name; [] for none (trained from scratch), None when unknown."""
    if checkpoint is None:
        return []
    sidecar = Path(checkpoint).with_suffix(".json")
    if sidecar.exists():
        return json.loads(sidecar.read_text(encoding="utf-8")).get("pretrained_on")
    return PRETRAINED_ON.get(Path(checkpoint).stem)


def dataset_name(path: str | Path) -> str:
    """How a split file's graph is named in `pretrained_on`: its folder (GraIL's `fb237_v1/train.txt`)."""
    path = Path(path)
    return path.parent.name or path.name


def benchmark(train_path, valid_path, test_path, *, inference_graph=None, filters=(), checkpoint=None,
              config: UltraTrainConfig | None = None, device: str = "auto", sampled_negatives: int = 50,
              progress: Callable[[dict], None] | None = None, save: str | Path | None = None,
              train_name: str | None = None, test_sample: int | None = None, fit_memory: bool = False) -> dict:
    """Fine-tune (or train from scratch, without `checkpoint`) on the training split for `config.epochs`,
    then rank the test split (one file, or several ranked together) over `inference_graph` (the GraIL
    protocol: a graph the model never saw), or over the training graph when none is given. Filtered
    against every triple known of that graph: its facts, the test split, `filters` (and, over the
    training graph, the valid split).

    `save` writes the trained weights there, with the graphs they learned from (the checkpoint's and
    `train_name`, by default the training file's folder) so that later figures can say what they overlap.

    `fit_memory` cuts the training batch to fit in half of the memory available (`fitting_batch_size`).

    `test_sample` ranks that many test triples drawn at random (seeded), for graphs whose full ranking takes
    hours on a CPU; the figures then say so and carry a 95% interval on the MRR. Filtering still uses them all.
    """
    config = config or UltraTrainConfig(epochs=0)
    device = resolve_device(device)
    started = time.monotonic()
    torch.manual_seed(config.seed)
    model = Ultra.load(checkpoint, device) if checkpoint else Ultra().to(device)
    train_rows, valid_rows = read_triples(train_path), read_triples(valid_path)
    test_paths = [test_path] if isinstance(test_path, str | Path) else list(test_path)
    test_rows = [row for p in test_paths for row in read_triples(p)]
    out: dict = {"task": "link_prediction", "model": "ultra", "device": str(device),
                 "checkpoint": str(checkpoint) if checkpoint else None,
                 "pretrained_on": pretraining_graphs(checkpoint)}
    if config.epochs > 0:
        vocab = Vocabulary()
        train_t = vocab.index(train_rows)
        graph = FactGraph.from_triples(train_t, len(vocab.entities), len(vocab.relations)).to(device)
        if fit_memory:
            config = replace(config, batch_size=fitting_batch_size(graph.num_nodes, config.batch_size,
                                                                   training_budget(device)))
        history = train(model, graph, train_t, config, on_epoch=progress)
        out.update(batch_size=config.batch_size, train_seconds=round(time.monotonic() - started, 1),
                   epochs=len(history), final_loss=history[-1]["loss"] if history else None)
        if save:
            before = pretraining_graphs(checkpoint)
            if before is None:  # weights of unknown origin stay marked so, not passed off as clean
                before = [f"unknown ({Path(checkpoint).name})"]
            learned_from = before + [train_name or dataset_name(train_path)]
            model.save(Path(save), pretrained_on=learned_from, history=history)
            out.update(saved=str(save), saved_pretrained_on=learned_from)
    facts_rows = read_triples(inference_graph) if inference_graph else train_rows
    known_rows = [r for p in filters for r in read_triples(p)] + ([] if inference_graph else valid_rows)
    vocab = Vocabulary()
    facts = vocab.index(facts_rows)
    test, known = vocab.index(test_rows), vocab.index(known_rows)
    graph = FactGraph.from_triples(facts, len(vocab.entities), len(vocab.relations)).to(device)
    answers = Answers(torch.cat([facts, test, known]), len(vocab.relations))
    evaluated = time.monotonic()
    ranked = test
    if test_sample is not None and test_sample < len(test):
        drawn = torch.randperm(len(test), generator=torch.Generator().manual_seed(config.seed))[:test_sample]
        ranked = test[drawn.sort().values]
        out.update(test_sampled=len(ranked))
    full, sampled = ranks(model, graph, ranked, answers, negatives=sampled_negatives, seed=config.seed)
    out.update(lp_metrics(full))
    if "test_sampled" in out:
        out["mrr_ci95"] = round(mean_ci95((1.0 / full.float()).tolist())[1], 4)
    out[f"hits@10_of_{sampled_negatives + 1}"] = round((sampled <= 10).float().mean().item(), 4)
    out.update(entities=len(vocab.entities), relations=len(vocab.relations), facts=len(facts),
               test_triples=len(test), eval_seconds=round(time.monotonic() - evaluated, 1),
               seconds=round(time.monotonic() - started, 1))
    return out
