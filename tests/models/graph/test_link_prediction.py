"""Graph export, link-prediction training, fold-in of new entities, and the /kg endpoints."""

from __future__ import annotations

import pytest
import torch

from kgrel.kg.export import export_graph
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.evaluation import filtered_ranks, known_tails, lp_metrics
from kgrel.models.graph.link_predictor import LPConfig
from kgrel.models.graph.training import train_link_predictor
from tests.conftest import CITIES, EX


@pytest.mark.parametrize("encoder", ["none", "rgcn"])
def test_training_lowers_loss_and_ranks_held_out_triples_first(toy_store, encoder):
    export = export_graph(toy_store)
    rel = export.relation_index[EX + "livesIn"]
    held = torch.tensor([[export.node_index[EX + f"p{i}"], rel, export.node_index[EX + CITIES[i % 3]]]
                         for i in range(6)])
    config = LPConfig(rank=16, epochs=60, lr=0.2, n3=1e-3, encoder=encoder, eval_every=1000, precision="fp32")
    model, report = train_link_predictor(export.triples, export.num_nodes, len(export.relations), config,
                                         progress=False)
    losses = [h["loss"] for h in report["history"]]
    assert losses[-1] < 0.5 * losses[0]
    known = known_tails(torch.cat([export.triples, held]), len(export.relations))
    entities = model.entities().detach()
    # The true city of each held-out person beats every other entity, in the tail direction.
    ranks = filtered_ranks(model, held, known)[: len(held)]
    assert ranks.float().mean() <= 1.5, ranks
    random_tails = torch.randint(0, export.num_nodes, (len(held),))
    assert (model(held[:, 0], held[:, 1], held[:, 2], entities=entities)
            > model(held[:, 0], held[:, 1], random_tails, entities=entities)).float().mean() >= 0.8
    assert lp_metrics(ranks)["hits@1"] >= 0.5


def test_new_entity_is_folded_in_from_its_neighbours(toy_store):
    export = export_graph(toy_store)
    embeddings = KGEmbeddings.train(export, LPConfig(rank=16, epochs=60, lr=0.2, n3=1e-3, precision="fp32"),
                                    progress=False)
    assert not embeddings.has_entity(EX + "newbie")
    facts = {EX + "newbie": [(EX + "newbie", EX + "worksIn", EX + "oslo")]}
    vec = embeddings.vector(EX + "newbie", lambda iri: facts.get(iri, []))
    assert vec is not None and embeddings.has_entity(EX + "newbie")
    tails = embeddings.predict_tails(vec, embeddings.relation_index(EX + "livesIn"), k=3)
    assert tails[0][0] == EX + "oslo"
    # Its nearest neighbours are people of the same city.
    neighbours = [iri for iri, _ in embeddings.similar(vec, k=5)]
    same_city = {EX + f"p{i}" for i in range(30) if CITIES[i % 3] == "oslo"}
    assert sum(n in same_city for n in neighbours) >= 3
    assert embeddings.vector(EX + "nobody", lambda iri: []) is None
