"""The shipped fact verifier over HTTP: it serves by default, pools only relations whose K it was measured
to help at (its verifier.json), and KGREL_VERIFIER=none turns it off."""

from __future__ import annotations

import json

import pytest

from kgrel.app.config import SHIPPED, Settings
from tests.app.test_api_relations import span
from tests.conftest import DATA, make_client

SHIPPED_VERIFIER = SHIPPED / "models" / "kgrel-verifier"
QUERY = span("The Hobbit was written by J. R. R. Tolkien.", "The Hobbit", "J. R. R. Tolkien")
EXAMPLE = span("The novel Dune was written by Frank Herbert.", "Dune", "Frank Herbert")


# ex:author gets one example (in the verifier's range); two more relations get examples outside it, so that
# the examples (8, of 3 relations) set the none-of-the-above threshold, which the verifier needs.
MORE_EXAMPLES = {
    "ex:birthPlace": [span("Marie Curie was born in Warsaw.", "Marie Curie", "Warsaw"),
                      span("Albert Einstein was born in Ulm in 1879.", "Albert Einstein", "Ulm"),
                      span("Frida Kahlo was born in Coyoacán.", "Frida Kahlo", "Coyoacán"),
                      span("Chopin was born in Żelazowa Wola near Warsaw.", "Chopin", "Żelazowa Wola")],
    "ex:spouse": [span("Pierre Curie married Marie Skłodowska in 1895.", "Pierre Curie", "Marie Skłodowska"),
                  span("Frida Kahlo was the wife of Diego Rivera.", "Frida Kahlo", "Diego Rivera"),
                  span("John Lennon married Yoko Ono in Gibraltar.", "John Lennon", "Yoko Ono")],
}


def scores_served(settings: Settings, model, more_examples: bool = True) -> tuple[dict, dict, dict]:
    """/health, /model/threshold and every relation's score for QUERY, with one example of ex:author."""
    with make_client(settings, model) as client:
        r = client.post("/graph/triples", content=(DATA / "ontology.ttl").read_bytes(),
                        headers={"Content-Type": "text/turtle"})
        assert r.status_code == 200, r.text
        assert client.post("/relations/ex:author/examples", json=[EXAMPLE]).status_code == 201
        for relation, examples in (MORE_EXAMPLES.items() if more_examples else ()):
            assert client.post(f"/relations/{relation}/examples", json=examples).status_code == 201
        predictions = client.post("/predict", json={**QUERY, "top_k": 20}).json()["predictions"]
        scores = {(p["curie"], p["reversed"]): p["score"] for p in predictions}
        return client.get("/health").json(), client.get("/model/threshold").json(), scores


def test_the_verifier_pools_only_relations_in_its_measured_range_and_can_be_turned_off(tmp_path, model):
    serving = json.loads((SHIPPED_VERIFIER / "verifier.json").read_text())["serving"]
    low, high = serving["examples"]
    assert low == 1 and high is not None and high < 3  # ex:author (1) in range; the others (0, 3, 4) not
    health, threshold, verified = scores_served(Settings(data_dir=tmp_path / "on"), model)
    assert health["verifier"] == str(SHIPPED_VERIFIER)
    assert threshold["from_examples"] is not None and threshold["verifier_pooled"] is True
    health, _, plain = scores_served(Settings(data_dir=tmp_path / "off", verifier="none"), model)
    assert health["verifier"] is None
    assert set(verified) == set(plain)
    for (curie, turned), score in plain.items():
        if curie == "ex:author" and not turned:  # K=1 and a clear case: the verifier's verdict moves it
            assert score > 0.5
            assert verified[(curie, turned)] != pytest.approx(score, abs=1e-4)
        elif curie != "ex:author":  # outside the range: the relation model's score
            assert verified[(curie, turned)] == pytest.approx(score, abs=1e-4)


def test_without_the_examples_threshold_the_verifier_is_not_pooled(tmp_path, model):
    # One example in all: too few to set the threshold on this text, so nothing holds the verifier there.
    _, threshold, verified = scores_served(Settings(data_dir=tmp_path / "on"), model, more_examples=False)
    assert threshold["from_examples"] is None and threshold["verifier_pooled"] is False
    _, _, plain = scores_served(Settings(data_dir=tmp_path / "off", verifier="none"), model, more_examples=False)
    assert verified == pytest.approx(plain, abs=1e-6)


def test_a_verifier_folder_that_holds_none_is_refused_naming_it(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="holds no fact verifier"), \
            make_client(Settings(data_dir=tmp_path / "var", verifier=str(tmp_path)), model):
        pass
