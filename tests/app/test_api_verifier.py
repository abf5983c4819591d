"""The shipped fact verifier over HTTP: it serves by default, pools only relations whose K it was measured
to help at (its verifier.json), only lowers the scores of relations with no examples, and KGREL_VERIFIER=none
turns it off."""

from __future__ import annotations

import json

import pytest

from kgrel.app.config import SHIPPED, Settings
from tests.app.test_api_relations import span
from tests.conftest import DATA, make_client

SHIPPED_VERIFIER = SHIPPED / "models" / "kgrel-verifier"
QUERY = span("The Hobbit was written by J. R. R. Tolkien.", "The Hobbit", "J. R. R. Tolkien")
EXAMPLE = span("The novel Dune was written by Frank Herbert.", "Dune", "Frank Herbert")
NO_EXAMPLES = {"ex:employer", "ex:capital", "ex:team"}  # K=0 in these tests: the verifier may only lower them


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


def scores_served(settings: Settings, model, more_examples: bool = True, author_example: bool = True,
                  queries=(QUERY,)) -> tuple[dict, dict, list[dict]]:
    """/health, /model/threshold and every relation's score for each query, with one example of ex:author."""
    with make_client(settings, model) as client:
        r = client.post("/graph/triples", content=(DATA / "ontology.ttl").read_bytes(),
                        headers={"Content-Type": "text/turtle"})
        assert r.status_code == 200, r.text
        if author_example:
            assert client.post("/relations/ex:author/examples", json=[EXAMPLE]).status_code == 201
        for relation, examples in (MORE_EXAMPLES.items() if more_examples else ()):
            assert client.post(f"/relations/{relation}/examples", json=examples).status_code == 201
        answers = client.post("/predict", json=[{**q, "top_k": 20} for q in queries]).json()
        scores = [{(p["curie"], p["reversed"]): p["score"] for p in a["predictions"]} for a in answers]
        return client.get("/health").json(), client.get("/model/threshold").json(), scores


def only_vetoed(verified: dict, plain: dict) -> None:
    """Relations with no examples may only have lost score; the others (not pooled) are the model's."""
    assert set(verified) == set(plain)
    for (curie, turned), score in plain.items():
        if curie in NO_EXAMPLES:
            assert verified[(curie, turned)] <= score + 1e-4
        else:
            assert verified[(curie, turned)] == pytest.approx(score, abs=1e-4)


def test_the_verifier_pools_only_relations_in_its_measured_range_and_can_be_turned_off(tmp_path, model):
    serving = json.loads((SHIPPED_VERIFIER / "verifier.json").read_text())["serving"]
    low, high = serving["examples"]
    assert low == 1 and high is not None and high < 3  # ex:author (1) in range; the others (0, 3, 4) not
    health, threshold, [verified] = scores_served(Settings(data_dir=tmp_path / "on"), model)
    assert health["verifier"] == str(SHIPPED_VERIFIER)
    assert threshold["from_examples"] is not None and threshold["verifier_pooled"] is True
    assert threshold["verifier_veto_examples"] == serving["veto"] == [0, 0]
    health, threshold, [plain] = scores_served(Settings(data_dir=tmp_path / "off", verifier="none"), model)
    assert health["verifier"] is None and threshold["verifier_veto_examples"] is None
    assert set(verified) == set(plain)
    for (curie, turned), score in plain.items():
        if curie == "ex:author" and not turned:  # K=1 and a clear case: the verifier's verdict moves it
            assert score > 0.5
            assert verified[(curie, turned)] != pytest.approx(score, abs=1e-4)
        elif curie in NO_EXAMPLES:  # K=0: vetoes only
            assert verified[(curie, turned)] <= score + 1e-4
        elif curie != "ex:author":  # K=3 and 4, outside both ranges: the relation model's score
            assert verified[(curie, turned)] == pytest.approx(score, abs=1e-4)


def test_without_the_examples_threshold_the_verifier_is_not_pooled(tmp_path, model):
    # One example in all: too few to set the threshold on this text, so nothing holds the verifier there.
    _, threshold, [verified] = scores_served(Settings(data_dir=tmp_path / "on"), model, more_examples=False)
    assert threshold["from_examples"] is None and threshold["verifier_pooled"] is False
    _, _, [plain] = scores_served(Settings(data_dir=tmp_path / "off", verifier="none"), model, more_examples=False)
    only_vetoed(verified, plain)  # ex:author (K=1) is the model's


# Sentences that state no fact of the ontology's, or state one only one way round.
UNSTATED = [span("Warsaw lies on the Vistula in Poland.", "Warsaw", "Poland"),
            span("Tolkien taught at the University of Oxford for decades.", "Tolkien", "University of Oxford"),
            QUERY]


def test_with_no_examples_verdicts_only_lower_scores_and_veto_facts_the_sentence_does_not_state(tmp_path, model):
    on = scores_served(Settings(data_dir=tmp_path / "on"), model, more_examples=False, author_example=False,
                       queries=UNSTATED)[2]
    off = scores_served(Settings(data_dir=tmp_path / "off", verifier="none"), model, more_examples=False,
                        author_example=False, queries=UNSTATED)[2]
    for verified, plain in zip(on, off, strict=True):
        assert set(verified) == set(plain)
        for cell, score in plain.items():
            assert verified[cell] <= score + 1e-4  # a veto never lifts, not even the other direction
    # "Warsaw lies ... in Poland" reads as Poland's capital (0.67) and as Poland's place of birth (0.54)
    # to the relation model; the sentence states neither.
    assert on[0][("ex:capital", True)] < 0.5 <= off[0][("ex:capital", True)]


def test_a_verifier_folder_that_holds_none_is_refused_naming_it(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="holds no fact verifier"), \
            make_client(Settings(data_dir=tmp_path / "var", verifier=str(tmp_path)), model):
        pass
