"""/predict: zero-shot, few-shot and none-of-the-above with the real encoder, and every 4xx."""

from __future__ import annotations

import pytest

from tests.app.test_api_relations import span

CLEAR = [
    ("Pierre Curie married Marie Skłodowska in 1895.", "Pierre Curie", "Marie Skłodowska", "ex:spouse"),
    ("Marie Curie was born in Warsaw in 1867.", "Marie Curie", "Warsaw", "ex:birthPlace"),
    ("The novel Dune was written by Frank Herbert.", "Dune", "Frank Herbert", "ex:author"),
    ("Sergey Brin works for Google as an engineer.", "Sergey Brin", "Google", "ex:employer"),
    ("Rome is the capital of Italy.", "Italy", "Rome", "ex:capital"),
    ("Kylian Mbappé plays for Real Madrid.", "Kylian Mbappé", "Real Madrid", "ex:team"),
]
UNRELATED = [("I had coffee with milk on a sunny Tuesday morning.", "coffee", "Tuesday"),
             ("The cat sat on the mat while it rained.", "cat", "mat")]


# The shipped model never trained on place of birth: Re-DocRED withholds its facts (with spouse's and
# capital's), so it is a zero-shot relation, and zero-shot on relations never trained is kgrel's open gap
# (README, "Known limits"): "born in Warsaw" reads as "member of sports team". Strict: it fails once fixed.
NEVER_TRAINED = pytest.mark.xfail(strict=True, reason="zero-shot on a relation the shipped model never trained on")


@pytest.mark.parametrize("case", [pytest.param(c, id=c[-1], marks=[NEVER_TRAINED] if c[-1] == "ex:birthPlace" else [])
                                  for c in CLEAR])
def test_zero_shot_clear_cases_rank_the_right_relation_first(onto_client, case):
    text, h, t, gold = case
    r = onto_client.post("/predict", json=span(text, h, t)).json()
    scores = [p["score"] for p in r["predictions"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert r["predictions"][0]["curie"] == gold, r["predictions"]


def test_none_of_the_above_on_unrelated_pairs(onto_client):
    clear = onto_client.post("/predict", json=[span(text, h, t) for text, h, t, _ in CLEAR]).json()
    unrelated = onto_client.post("/predict", json=[span(*u) for u in UNRELATED]).json()
    assert all(r["none_of_the_above"] for r in unrelated)
    # The unrelated pairs score below every clear case: the threshold separates them.
    assert max(r["predictions"][0]["score"] for r in unrelated) < min(r["predictions"][0]["score"] for r in clear)
    # A threshold of 0 turns none-of-the-above off.
    r = onto_client.post("/predict", json={**span(*UNRELATED[0]), "threshold": 0.0}).json()
    assert r["none_of_the_above"] is False


def test_candidates_and_top_k(onto_client):
    text, h, t, _ = CLEAR[0]
    r = onto_client.post("/predict", json={**span(text, h, t), "candidates": ["ex:author", "ex:capital"],
                                           "top_k": 5}).json()
    assert {p["curie"] for p in r["predictions"]} == {"ex:author", "ex:capital"}
    r = onto_client.post("/predict", json={**span(text, h, t), "top_k": 1}).json()
    assert len(r["predictions"]) == 1 and r["predictions"][0]["curie"] == "ex:spouse"


R42_QUERY = span("The Ninth Symphony was composed by Ludwig van Beethoven.", "Ninth Symphony", "Ludwig van Beethoven")
R42_EXAMPLES = [
    span("The opera Carmen was composed by Georges Bizet.", "Carmen", "Georges Bizet"),
    span("Swan Lake is a ballet with music composed by Pyotr Tchaikovsky.", "Swan Lake", "Pyotr Tchaikovsky"),
    span("The Four Seasons is a set of violin concertos composed by Antonio Vivaldi.", "The Four Seasons",
         "Antonio Vivaldi")]


def r42_before_and_after(client) -> tuple[tuple[float, str], tuple[float, str]]:
    """r42's score on the query and the top relation, before and after three examples of it."""
    assert client.post("/relations", json={"id": "ex:r42", "label": "r42"}).status_code == 201

    def score_of_r42():
        preds = client.post("/predict", json={**R42_QUERY, "top_k": 7}).json()["predictions"]
        return next(p["score"] for p in preds if p["curie"] == "ex:r42"), preds[0]["curie"]

    before = score_of_r42()
    assert client.post("/relations/ex:r42/examples", json=R42_EXAMPLES).status_code == 201
    return before, score_of_r42()


def test_few_shot_examples_raise_a_relation_its_label_cannot_describe(onto_client):
    (before, top_before), (after, _) = r42_before_and_after(onto_client)
    assert top_before != "ex:r42" and after > 5 * before


# Three examples raise "r42" (0.0015 -> 0.02 with the shipped model) but not above "member of sports team"
# (0.07): on relations never trained, examples rank well but score low (README, "Known limits").
@pytest.mark.xfail(strict=True, reason="few-shot on a relation never trained: examples move its score too little")
def test_few_shot_examples_teach_a_relation_its_label_cannot(onto_client):
    _, (_, top_after) = r42_before_and_after(onto_client)
    assert top_after == "ex:r42"


def test_predict_on_an_empty_graph_answers_none_of_the_above(client):
    r = client.post("/predict", json=span("Alice met Bob.", "Alice", "Bob"))
    assert r.status_code == 200
    assert r.json() == {"predictions": [], "none_of_the_above": True}


def test_predict_errors_are_4xx_naming_the_problem(onto_client):
    good = span("Alice met Bob.", "Alice", "Bob")
    cases = [
        ({"text": "", "head": {"start": 0, "end": 1}, "tail": {"start": 1, "end": 2}}, 422, "text is empty"),
        ({"text": "Alice met Bob.", "head": {"start": 0, "end": 5}, "tail": {"start": 10, "end": 99}}, 422,
         "inside the text"),
        ({"text": "Alice met Bob.", "head": {"start": 0, "end": 5}, "tail": {"start": 2, "end": 8}}, 422, "overlap"),
        ({"text": "Alice met Bob.", "head": {"start": -1, "end": 5}, "tail": {"start": 10, "end": 13}}, 422, "head"),
        ({**good, "candidates": ["ex:nothing"]}, 422, "unknown relation 'ex:nothing'"),
        ({**good, "candidates": ["zz:nothing"]}, 422, "unknown prefix"),
        ({**good, "top_k": 0}, 422, "top_k"),
        ({"text": "Alice met Bob."}, 422, "required"),
        ({**good, "colour": "blue"}, 422, "colour"),
        ([], 200, None),
    ]
    for body, status, words in cases:
        r = onto_client.post("/predict", json=body)
        assert r.status_code == status, (body, r.text)
        if words:
            assert words in r.json()["detail"], (words, r.json())
    r = onto_client.post("/predict", content=b'{"text": "Alice', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = onto_client.post("/predict", json=[good, {"text": "x", "head": {"start": 0, "end": 1},
                                                  "tail": {"start": 0, "end": 1}}])
    assert r.status_code == 422 and r.json()["detail"].startswith("item 1")
