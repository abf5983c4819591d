"""Filtered ranking evaluation of link prediction, and the tab-separated benchmark splits it runs on."""

from __future__ import annotations

import gzip
import math

import torch

from kgrel.kg.export import GraphExport
from kgrel.models.graph.link_predictor import LinkPredictor, reciprocal


def known_tails(triples: torch.Tensor, num_relations: int) -> dict[tuple[int, int], torch.Tensor]:
    """For filtered ranking: every true tail of each (head, relation) query, reciprocal ones included."""
    out: dict[tuple[int, int], list[int]] = {}
    for h, r, t in reciprocal(triples, num_relations).tolist():
        out.setdefault((h, r), []).append(t)
    return {k: torch.tensor(v) for k, v in out.items()}


@torch.no_grad()
def filtered_ranks(model: LinkPredictor, triples: torch.Tensor, known: dict, batch_size: int = 500,
                   entities: torch.Tensor | None = None) -> torch.Tensor:
    """Rank of the true answer among all entities, other known answers removed, for both directions.
    `entities` scores another table of entity vectors than the model's (entities folded in after training)."""
    model.eval()
    entities = model.entities() if entities is None else entities
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


def read_triples(path) -> list[tuple[str, str, str]]:
    """(head, relation, tail) rows of a tab-separated file, or whitespace-separated where no tab is; a
    `.gz` file is read compressed."""
    opener = gzip.open if str(path).endswith(".gz") else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            if len(parts) != 3:
                raise ValueError(f"{path}:{n}: expected 3 tab-separated fields, got {len(parts)}")
            rows.append(tuple(p.strip() for p in parts))
    return rows


def load_tsv_splits(train_path, valid_path, test_path):
    """Index triples of tab-separated (head, relation, tail) files, ids taken from the training file.

    Returns (export, train, valid, test); valid/test triples whose entity or relation never occurs in
    training are dropped (their count is in export.dropped) since no embedding can be learned for them.
    """
    export = GraphExport.of(read_triples(train_path))
    valid_rows, test_rows = read_triples(valid_path), read_triples(test_path)
    valid, test = (index_known(rows, export.node_index, export.relation_index) for rows in (valid_rows, test_rows))
    export.dropped = len(valid_rows) + len(test_rows) - len(valid) - len(test)
    return export, export.triples, valid, test


def index_known(rows, nodes: dict[str, int], relations: dict[str, int]) -> torch.Tensor:
    """(E, 3) index triples of IRI rows, leaving out those with an entity or relation the maps do not have."""
    kept = [(nodes[h], relations[r], nodes[t]) for h, r, t in rows if h in nodes and t in nodes and r in relations]
    return torch.tensor(kept, dtype=torch.long).reshape(-1, 3)
