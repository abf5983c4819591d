"""Graph export, link-prediction training, fold-in of new entities, and the /kg endpoints."""

from __future__ import annotations

import time

import pyoxigraph as ox
import pytest
import torch

from kgrel.kg.export import CLASS, ENTITY, GraphExport, export_graph
from kgrel.kg.ingest import ingest
from kgrel.kg.store import EmbeddedStore
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.evaluation import filtered_ranks, known_tails, lp_metrics
from kgrel.models.graph.link_predictor import LPConfig
from kgrel.models.graph.training import train_link_predictor

EX = "http://example.org/"
CITIES = ["paris", "rome", "oslo"]


def toy_turtle(people: int = 30, held_out: tuple[int, ...] = ()) -> str:
    """People who live and work in the same city; `held_out` people have no livesIn fact."""
    lines = ["@prefix ex: <http://example.org/> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
             "ex:Person rdfs:subClassOf ex:Agent . ex:City rdfs:label \"city\" ."]
    for c in CITIES:
        lines.append(f"ex:{c} a ex:City ; rdfs:label \"{c.title()}\" .")
    for i in range(people):
        city = CITIES[i % 3]
        lines.append(f"ex:p{i} a ex:Person ; rdfs:label \"Person {i}\" ; ex:worksIn ex:{city} .")
        if i not in held_out:
            lines.append(f"ex:p{i} ex:livesIn ex:{city} .")
    return "\n".join(lines)


@pytest.fixture
def toy_store(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    ingest(store, toy_turtle(held_out=(0, 1, 2, 3, 4, 5)).encode(), ox.RdfFormat.TURTLE)
    yield store
    store.close()


def test_export_round_trip_keeps_ids_and_leaves_literals_out(toy_store, tmp_path):
    export = export_graph(toy_store)
    relations = set(export.relations)
    assert relations == {EX + "worksIn", EX + "livesIn", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                         "http://www.w3.org/2000/01/rdf-schema#subClassOf"}
    assert not any(n.startswith('"') for n in export.nodes)  # literals are not nodes
    assert export.node_kind[export.node_index[EX + "City"]] == CLASS
    assert export.node_kind[export.node_index[EX + "p7"]] == ENTITY
    # 30 worksIn + 24 livesIn + 33 types + 1 subClassOf
    assert len(export.triples) == 30 + 24 + 33 + 1
    export.save(tmp_path / "g")
    again = GraphExport.load(tmp_path / "g")
    assert again.nodes == export.nodes and again.relations == export.relations
    assert torch.equal(again.triples, export.triples)
    data = again.to_pyg()
    assert data.num_nodes == export.num_nodes and data.edge_index.shape[1] == 2 * len(export.triples)
    assert int(data.edge_type.max()) == 2 * len(export.relations) - 1
    bigger = again.extend([(EX + "newbie", EX + "worksIn", EX + "rome")])
    assert bigger.nodes[: export.num_nodes] == export.nodes  # existing rows never move


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


def test_kg_endpoints_train_in_the_background_and_answer(client):
    r = client.get("/kg/predict-links",
                   params={"head": "<http://example.org/p0>", "relation": "<http://example.org/livesIn>"})
    assert r.status_code == 409 and "POST /kg/train" in r.json()["detail"]
    client.post("/graph/triples", content=toy_turtle(held_out=(0, 1, 2)).encode(),
                headers={"Content-Type": "text/turtle"})
    r = client.post("/kg/train", json={"rank": 16, "epochs": 60})
    assert r.status_code == 202
    job = r.json()["job"]
    assert client.post("/kg/train", json={"rank": 16, "epochs": 5}).status_code == 409  # one at a time
    assert client.get("/health").status_code == 200  # the service answers while it trains
    deadline = time.time() + 120
    while (status := client.get(f"/kg/train/{job}").json())["status"] in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert status["status"] == "done", status
    assert status["result"]["entities"] == 36 and status["progress"]["epoch"] == 60
    r = client.get("/kg/predict-links", params={"head": "ex:p0", "relation": "ex:livesIn", "k": 3})
    assert r.status_code == 200
    assert r.json()[0]["curie"] == "ex:paris" and r.json()[0]["in_graph"] is False
    r = client.get("/kg/predict-links", params={"head": "ex:p3", "relation": "ex:livesIn", "k": 3})
    assert r.json()[0] == {**r.json()[0], "curie": "ex:paris", "in_graph": True}
    similar = client.get("/kg/entities/ex:rome/similar", params={"k": 2}).json()
    assert len(similar) == 2 and all(s["curie"] != "ex:rome" for s in similar)
    # An entity ingested after training is embedded from its neighbours, without retraining.
    client.post("/graph/triples", content=b"<http://example.org/late> <http://example.org/worksIn> "
                b"<http://example.org/oslo> .", headers={"Content-Type": "application/n-triples"})
    r = client.get("/kg/predict-links", params={"head": "ex:late", "relation": "ex:livesIn", "k": 1})
    assert r.status_code == 200 and r.json()[0]["curie"] == "ex:oslo"
    assert client.get("/kg/entities/ex:ghost/similar").status_code == 404
    assert client.get("/kg/train/nope").status_code == 404
    assert client.get("/health").json()["kg_embeddings"]["entities"] == 36
