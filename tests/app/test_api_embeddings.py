"""The /kg endpoints: background training, similar entities, predicted links."""

from __future__ import annotations

import time

import pytest

from kgrel.app.config import Settings
from tests.conftest import make_client, toy_turtle


def test_links_are_predicted_by_ultra_at_once_for_entities_and_relations_added_any_time(client):
    client.post("/graph/triples", content=toy_turtle(held_out=(0, 1, 2)).encode(),
                headers={"Content-Type": "text/turtle"})
    # No training: the shipped ULTRA reasons over the graph as it is.
    r = client.get("/kg/predict-links", params={"head": "ex:p0", "relation": "ex:livesIn", "k": 3})
    assert r.status_code == 200, r.text
    assert r.json()[0]["curie"] == "ex:paris" and r.json()[0]["in_graph"] is False and 0 < r.json()[0]["score"] < 1
    r = client.get("/kg/predict-links", params={"head": "ex:p3", "relation": "ex:livesIn", "k": 3})
    assert r.json()[0] == {**r.json()[0], "curie": "ex:paris", "in_graph": True}
    # An entity and a relation ingested now are reasoned about at the next question.
    client.post("/graph/triples", content=b"<http://example.org/late> <http://example.org/worksIn> "
                b"<http://example.org/oslo> .\n<http://example.org/late> <http://example.org/visits> "
                b"<http://example.org/rome> .", headers={"Content-Type": "application/n-triples"})
    r = client.get("/kg/predict-links", params={"head": "ex:late", "relation": "ex:livesIn", "k": 1})
    assert r.status_code == 200 and r.json()[0]["curie"] == "ex:oslo"
    assert client.get("/kg/predict-links", params={"head": "ex:p5", "relation": "ex:visits"}).status_code == 200
    r = client.get("/kg/predict-links", params={"head": "ex:ghost", "relation": "ex:livesIn"})
    assert r.status_code == 404 and "no facts" in r.json()["detail"]
    r = client.get("/kg/predict-links", params={"head": "ex:p0", "relation": "ex:nothing"})
    assert r.status_code == 404 and "ex:nothing" in r.json()["detail"]


def test_kg_endpoints_train_in_the_background_and_answer(tmp_path, model):
    with make_client(Settings(data_dir=tmp_path / "var", link_predictor="embeddings"), model) as client:
        r = client.get("/kg/predict-links",
                       params={"head": "<http://example.org/p0>", "relation": "<http://example.org/livesIn>"})
        assert r.status_code == 409 and "POST /kg/train" in r.json()["detail"]
        client.post("/graph/triples", content=toy_turtle(held_out=(0, 1, 2)).encode(),
                    headers={"Content-Type": "text/turtle"})
        service = client.app.state.service
        assert service.predictions.state().profile is None  # no embeddings: prototypes carry no graph profile
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
        # The new embeddings reach prediction at once: the prototypes' graph profile is rebuilt from them.
        assert service.predictions.state().profile.kg is service.embeddings.current
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


def test_ultra_fine_tuned_on_the_graph_in_the_background_then_serves(client):
    client.post("/graph/triples", content=toy_turtle(held_out=(0, 1, 2)).encode(),
                headers={"Content-Type": "text/turtle"})
    before = client.get("/kg/predict-links", params={"head": "ex:p0", "relation": "ex:livesIn", "k": 1}).json()
    r = client.post("/kg/train", json={"encoder": "ultra", "epochs": 1})
    assert r.status_code == 202, r.text
    assert client.post("/kg/train", json={"encoder": "ultra", "epochs": 1}).status_code == 409
    deadline = time.time() + 300
    while (job := client.get(r.json()["status_url"]).json())["status"] in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert job["status"] == "done", job
    assert job["result"]["started_from"].endswith("ultra_3g.pt") and job["result"]["epochs"] == 1
    service = client.app.state.service
    assert str(service.embeddings.ultra_checkpoint()) == job["result"]["checkpoint"]
    after = client.get("/kg/predict-links", params={"head": "ex:p0", "relation": "ex:livesIn", "k": 1}).json()
    assert after[0]["curie"] == before[0]["curie"] == "ex:paris" and after[0]["score"] != before[0]["score"]
    assert client.post("/kg/train", json={"encoder": "ultra", "checkpoint": "other"}).status_code == 422


def wait_job(client, url: str) -> dict:
    deadline = time.time() + 300
    while (job := client.get(url).json())["status"] in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(0.2)
    return job


def test_ultra_training_cuts_its_batch_to_the_memory_allowed_and_refuses_a_graph_that_cannot_fit(tmp_path, model):
    """KGREL_TRAIN_MEMORY_MB: a step of the toy graph needs under 1 MiB per triple, so 1 MiB allows one triple
    per step; a graph of 2,000 more entities needs ~50 MiB per triple, and the job fails saying so before it
    trains, leaving the serving weights as they were (instead of the process being killed for memory)."""
    with make_client(Settings(data_dir=tmp_path / "var", train_memory_mb=1), model) as client:
        client.post("/graph/triples", content=toy_turtle().encode(), headers={"Content-Type": "text/turtle"})
        job = wait_job(client, client.post("/kg/train", json={"encoder": "ultra", "epochs": 1}).json()["status_url"])
        assert job["status"] == "done", job
        assert job["result"]["batch_size"] == 1
        serving = client.app.state.service.embeddings.ultra_checkpoint()
        chain = "".join(f"<http://example.org/n{i}> <http://example.org/knows> <http://example.org/n{i + 1}> .\n"
                        for i in range(2000))
        client.post("/graph/triples", content=chain.encode(), headers={"Content-Type": "application/n-triples"})
        job = wait_job(client, client.post("/kg/train", json={"encoder": "ultra", "epochs": 1}).json()["status_url"])
        assert job["status"] == "failed" and "GraphTooLarge" in job["error"], job
        assert "MiB per training step" in job["error"] and "1.0 MiB may be used" in job["error"]
        assert client.app.state.service.embeddings.ultra_checkpoint() == serving


def test_ultra_plausibility_weighs_linked_pairs_with_no_training(tmp_path, model):
    """KGREL_PLAUSIBILITY=ultra: with no embeddings trained, a pair whose mentions are both linked gets ULTRA's
    plausibility as evidence (a person working in Paris more plausibly lives in Paris than in Rome) and its
    score moves; a pair with an unlinked mention scores as with the text alone."""
    from kgrel.models.relation.instances import Mention, make_instance

    def scores_and_service(plausibility: str, client) -> dict[str, float]:
        client.post("/graph/triples", content=toy_turtle(held_out=(0, 1, 2)).encode(),
                    headers={"Content-Type": "text/turtle"})
        for rel, label in (("ex:livesIn", "lives in"), ("ex:worksIn", "works in")):
            assert client.post("/relations", json={"id": rel, "label": label}).status_code == 201
        scores = {}
        for city in ("Paris", "Rome", "Oslo", "Berlin"):  # Berlin is not in the graph
            text = f"Person 0 has a flat in {city}."
            r = client.post("/predict", json={"text": text, "head": {"start": 0, "end": 8},
                                              "tail": {"start": text.index(city), "end": len(text) - 1},
                                              "candidates": ["ex:livesIn"], "threshold": 0.0})
            assert r.status_code == 200, r.text
            scores[city] = r.json()["predictions"][0]["score"]
        return scores

    def instance(city: str):
        text = f"Person 0 has a flat in {city}."
        return make_instance(text, Mention(0, 8), Mention(text.index(city), len(text) - 1))

    runs = {}
    for plausibility in ("embeddings", "ultra"):
        settings = Settings(data_dir=tmp_path / plausibility / "var", plausibility=plausibility)
        with make_client(settings, model) as client:
            runs[plausibility] = scores_and_service(plausibility, client)
            predictions = client.app.state.service.predictions
            contexts = predictions.contexts([instance("Paris"), instance("Rome"), instance("Berlin")])
            ultra = predictions.plausibility(contexts)
            state = predictions.state()
            evidence = predictions.classifier.evidence(state, contexts, ultra)
            if plausibility == "embeddings":
                assert ultra is None and "plausibility" not in evidence.scores  # none trained: no plausibility
                continue
            column = state.prototypes.index("http://example.org/livesIn")
            scores, mask = evidence.scores["plausibility"][:, column], evidence.masks["plausibility"][:, column]
            assert mask.tolist() == [True, True, False]
            assert scores[0] > scores[1]
            assert predictions.plausibility(contexts) is ultra  # kept until the facts change
    text_only, ultra_scores = runs["embeddings"], runs["ultra"]
    assert ultra_scores["Berlin"] == pytest.approx(text_only["Berlin"], abs=1e-4)
    assert max(abs(ultra_scores[c] - text_only[c]) for c in ("Paris", "Rome", "Oslo")) > 0.01
