"""Knowledge-graph embeddings: training with 1-N scoring, filtered ranking, and fold-in of new entities.

The model is a decoder (ComplEx or DistMult) over entity representations that are either a plain
embedding table (`encoder="none"`, the shallow baseline) or the output of an R-GCN over the training
graph (`encoder="rgcn"`). Training is 1-vs-all cross-entropy over every entity with reciprocal
relations and an N3 regulariser (Lacroix et al., 2018), full-graph. Neighbour-sampled mini-batches
(PyG's LinkNeighborLoader) need pyg-lib or torch-sparse, which have no wheels for this platform.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from models.kge import DECODERS
from models.rgcn import RGCNEncoder

log = logging.getLogger(__name__)


@dataclass
class LPConfig:
    decoder: str = "complex"  # complex | distmult
    encoder: str = "none"  # none (shallow embeddings) | rgcn
    rank: int = 256  # entity/relation vectors have 2 * rank numbers (ComplEx: rank complex numbers)
    epochs: int = 200
    batch_size: int = 1000
    lr: float = 0.1
    n3: float = 5e-3  # N3 regularisation weight
    label_smoothing: float = 0.0
    negatives: int | None = None  # score against this many shared random entities (+ the batch's answers)
    # instead of all entities: sampled softmax for big graphs; None scores all (1-N)
    time_limit_s: float | None = None
    eval_every: int = 5  # epochs
    patience: int = 3  # evaluations without a better validation MRR
    rgcn_layers: int = 1
    rgcn_bases: int = 8
    dropout: float = 0.1
    precision: str = "auto"  # bf16 autocast where fast (see models.train.autocast_dtype)
    seed: int = 0


def reciprocal(triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """Queries for both directions: (h, r, t) and (t, r + R, h)."""
    inverse = torch.stack([triples[:, 2], triples[:, 1] + num_relations, triples[:, 0]], dim=1)
    return torch.cat([triples, inverse])


class LinkPredictor(nn.Module):
    def __init__(self, num_entities: int, num_relations: int, config: LPConfig):
        super().__init__()
        self.config = config
        self.num_entities = num_entities
        self.num_relations = num_relations  # without the reciprocal ones
        decoder_cls = DECODERS[config.decoder]
        dim = 2 * config.rank
        self.decoder = decoder_cls(2 * num_relations, config.rank if config.decoder == "complex" else dim)
        if config.encoder == "none":
            self.entity = nn.Embedding(num_entities, dim)
            nn.init.normal_(self.entity.weight, std=1e-3)
            self.encoder = None
        elif config.encoder == "rgcn":
            self.entity = None
            self.encoder = RGCNEncoder(num_entities, 2 * num_relations, dim, config.rgcn_layers,
                                       config.rgcn_bases, config.dropout)
        else:
            raise ValueError(f"unknown encoder {config.encoder!r}: use none or rgcn")
        self.graph: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_graph(self, triples: torch.Tensor) -> None:
        """The message-passing graph of the R-GCN encoder (training triples plus inverses)."""
        both = reciprocal(triples, self.num_relations)
        self.graph = (both[:, [0, 2]].T.contiguous(), both[:, 1].contiguous())

    def entities(self) -> torch.Tensor:
        """Representations of all entities, (num_entities, dim)."""
        if self.encoder is None:
            return self.entity.weight
        if self.graph is None:
            raise RuntimeError("set_graph() first: the R-GCN needs the training graph")
        return self.encoder(*self.graph)

    def score_tails(self, entities: torch.Tensor, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """Scores of every entity as the tail of each (head, relation) query: (batch, num_entities)."""
        return self.decoder.query(entities[heads], relations) @ entities.T

    def score(self, entities: torch.Tensor, heads, relations, tails) -> torch.Tensor:
        return self.decoder(entities[heads], relations, entities[tails])


def known_tails(triples: torch.Tensor, num_relations: int) -> dict[tuple[int, int], torch.Tensor]:
    """For filtered ranking: every true tail of each (head, relation) query, reciprocal ones included."""
    out: dict[tuple[int, int], list[int]] = {}
    for h, r, t in reciprocal(triples, num_relations).tolist():
        out.setdefault((h, r), []).append(t)
    return {k: torch.tensor(v) for k, v in out.items()}


@torch.no_grad()
def filtered_ranks(model: LinkPredictor, triples: torch.Tensor, known: dict, batch_size: int = 500) -> torch.Tensor:
    """Rank of the true answer among all entities, other known answers removed, for both directions."""
    model.eval()
    entities = model.entities()
    queries = reciprocal(triples, model.num_relations)
    ranks = []
    for start in range(0, len(queries), batch_size):
        q = queries[start:start + batch_size]
        scores = model.score_tails(entities, q[:, 0], q[:, 1]).float()
        target = scores.gather(1, q[:, 2:3])
        for row, (h, r, t) in enumerate(q.tolist()):
            others = known.get((h, r))
            if others is not None:
                scores[row, others] = -math.inf
            scores[row, t] = target[row, 0]
        # Ties count half: neither optimistic nor pessimistic.
        greater = (scores > target).sum(1)
        equal = (scores == target).sum(1) - 1
        ranks.append(1 + greater + equal // 2)
    model.train()
    return torch.cat(ranks)


def lp_metrics(ranks: torch.Tensor) -> dict[str, float]:
    ranks = ranks.float()
    return {"mrr": round((1.0 / ranks).mean().item(), 4),
            **{f"hits@{k}": round((ranks <= k).float().mean().item(), 4) for k in (1, 3, 10)}}


def train_link_predictor(train: torch.Tensor, num_entities: int, num_relations: int, config: LPConfig,
                         valid: torch.Tensor | None = None, known: dict | None = None,
                         device: str | torch.device = "cpu", progress: bool = True,
                         on_epoch=None) -> tuple[LinkPredictor, dict]:
    """Train on (E, 3) index triples; early-stops on filtered validation MRR when `valid` is given.

    `on_epoch(record)` is called after every epoch (progress for the API's job status).
    """
    with torch.enable_grad():  # callers may have turned autograd off for inference
        return _train(train, num_entities, num_relations, config, valid, known, device, progress, on_epoch)


def _train(train, num_entities, num_relations, config, valid, known, device, progress, on_epoch):
    from models.train import autocast_dtype

    torch.manual_seed(config.seed)
    device = torch.device(device)
    model = LinkPredictor(num_entities, num_relations, config).to(device)
    if config.encoder == "rgcn":
        model.set_graph(train.to(device))
    queries = reciprocal(train, num_relations).to(device)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=config.lr)
    amp = autocast_dtype(device, config.precision)
    started = time.perf_counter()
    history: list[dict] = []
    best, best_state, since_best = -1.0, None, 0
    bar = tqdm(range(1, config.epochs + 1), desc="kg training", unit="epoch", disable=not progress)
    for epoch in bar:
        perm = queries[torch.randperm(len(queries), device=device)]
        total = 0.0
        for start in range(0, len(perm), config.batch_size):
            batch = perm[start:start + config.batch_size]
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                entities = model.entities()
                heads, tails = entities[batch[:, 0]], entities[batch[:, 2]]
                query = model.decoder.query(heads, batch[:, 1])
                if config.negatives and config.negatives < num_entities:
                    # Candidates: every answer of the batch plus shared random entities, each once.
                    candidates = torch.unique(torch.cat([batch[:, 2], torch.randint(
                        num_entities, (config.negatives,), device=device)]))
                    logits = query @ entities[candidates].T
                    target = torch.searchsorted(candidates, batch[:, 2].contiguous())
                else:
                    logits = query @ entities.T
                    target = batch[:, 2]
            loss = F.cross_entropy(logits.float(), target, label_smoothing=config.label_smoothing)
            if config.n3:
                factors = model.decoder.factors(heads.float(), batch[:, 1], tails.float())
                loss = loss + config.n3 * sum((f ** 3).sum() for f in factors) / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        record = {"epoch": epoch, "loss": total / len(perm), "seconds": round(time.perf_counter() - started, 1)}
        out_of_time = config.time_limit_s is not None and time.perf_counter() - started > config.time_limit_s
        if valid is not None and (epoch % config.eval_every == 0 or epoch == config.epochs or out_of_time):
            metrics = lp_metrics(filtered_ranks(model, valid.to(device), known))
            record.update({f"valid_{k}": v for k, v in metrics.items()})
            if record["valid_mrr"] > best:
                best, since_best = record["valid_mrr"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
        history.append(record)
        bar.set_postfix({k: v for k, v in record.items() if k in ("loss", "valid_mrr")})
        if on_epoch is not None:
            on_epoch({**record, "epochs": config.epochs})
        if out_of_time or since_best >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, {"history": history, "seconds": round(time.perf_counter() - started, 1),
                   "epochs": history[-1]["epoch"], "best_valid_mrr": best if valid is not None else None,
                   "config": asdict(config)}


def load_tsv_splits(train_path, valid_path, test_path):
    """Index triples of tab-separated (head, relation, tail) files, ids taken from the training file.

    Returns (export, train, valid, test); valid/test triples whose entity or relation never occurs in
    training are dropped (their count is in export.dropped) since no embedding can be learned for them.
    """
    from pathlib import Path

    from kg.export import GraphExport

    def read(path) -> list[tuple[str, str, str]]:
        rows = []
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                parts = line.split("\t")
                if len(parts) != 3:
                    raise ValueError(f"{path}:{n}: expected 3 tab-separated fields, got {len(parts)}")
                rows.append(tuple(p.strip() for p in parts))
        return rows

    empty = GraphExport([], [], torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    export = empty.extend(read(train_path))
    dropped = 0

    def index(rows):
        nonlocal dropped
        kept = [(export.node_index[h], export.relation_index[r], export.node_index[t]) for h, r, t in rows
                if h in export.node_index and t in export.node_index and r in export.relation_index]
        dropped += len(rows) - len(kept)
        return torch.tensor(kept, dtype=torch.long).reshape(-1, 3)

    valid, test = index(read(valid_path)), index(read(test_path))
    export.dropped = dropped
    return export, export.triples, valid, test


def fold_in(model: LinkPredictor, entities: torch.Tensor, facts: list[tuple[int, int, int]]) -> torch.Tensor:
    """An embedding for an entity the model never saw, from its facts with known entities.

    Each fact is (relation, neighbour, direction): direction +1 when the new entity is the head,
    -1 when it is the tail. Both decoders are linear in each argument, so the vector that scores all
    the facts highest at a given norm is the normalised sum of their gradients (each fact counted in
    its own direction and through its reciprocal relation); it is scaled to the median entity norm.
    """
    if not facts:
        raise ValueError("an entity needs at least one fact with a known entity to be folded in")
    entities = entities.detach().float()
    e = torch.zeros(1, entities.shape[1], requires_grad=True)
    total = torch.zeros(())
    R = model.num_relations
    for relation, neighbour, sign in facts:
        other = entities[neighbour:neighbour + 1]
        r, r_inv = torch.tensor([relation]), torch.tensor([relation + R])
        if sign >= 0:  # (new, r, neighbour) and its reciprocal (neighbour, r + R, new)
            total = total + model.decoder(e, r, other).sum() + model.decoder(other, r_inv, e).sum()
        else:  # (neighbour, r, new) and (new, r + R, neighbour)
            total = total + model.decoder(other, r, e).sum() + model.decoder(e, r_inv, other).sum()
    (direction,) = torch.autograd.grad(total, e)
    return F.normalize(direction[0], dim=0) * entities.norm(dim=1).median()
