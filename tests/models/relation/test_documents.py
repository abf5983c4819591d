"""Documents as the model reads them: DocRED's tokens as text, mention markers, entity pooling and pair
contexts (hand-computed values), and the document evaluator on a hand-built gold set."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from kgrel.models.relation.docred import detokenize, load_docred, split_documents, split_relations
from kgrel.models.relation.documents import Document, DocumentEntity, instance_document, mark_document
from kgrel.models.relation.extraction_evaluation import DocumentEvaluator
from kgrel.models.relation.instances import Mention, make_instance
from kgrel.models.relation.reader import DocumentReading, pair_encodings, read_document, token_masks
from tests.conftest import DATA


def test_tokens_become_text_a_curator_would_paste():
    text, sentences, offsets = detokenize([["Mediaș", ",", "Transylvania", "(", "born", "1963", ")", "."],
                                           ["He", "said", '"', "yes", '"', "."]])
    assert text == 'Mediaș, Transylvania (born 1963). He said "yes".'
    assert [s.text for s in sentences] == ["Mediaș, Transylvania (born 1963).", 'He said "yes".']
    for tokens, positions in zip([["Mediaș", ",", "Transylvania", "(", "born", "1963", ")", "."],
                                  ["He", "said", '"', "yes", '"', "."]], offsets, strict=True):
        assert [text[a:b] for a, b in positions] == tokens


def test_a_docred_file_gives_entities_facts_and_withheld_pairs():
    first, second = load_docred(DATA / "tiny_docred.json")
    text = first.document.text
    assert [text[a:b] for a, b in first.document.entities[0].mentions] == ["Orsina Vella", "Vella"]
    assert first.document.entities[1].classes == ("time",)
    assert (0, "P26", 4) in first.facts and (4, "P26", 0) in first.facts
    assert first.withheld == {(0, 6)}
    assert first.in_sentence((0, "P19", 2)) and first.in_sentence((4, "P19", 5)) is not False
    assert {(1, "P17", 2), (1, "P131", 2)} <= second.facts  # one pair, two relations
    assert load_docred(DATA / "tiny_docred.json", type_classes=False)[0].document.entities[1].classes == ()


def test_splits_are_disjoint_and_seeded():
    docs = load_docred(DATA / "tiny_docred.json") * 5
    split = split_documents(docs, 3, seed=1)
    assert len(split.dev) == 3 and len(split.train) == 7
    assert [d.title for d in split_documents(docs, 3, seed=1).dev] == [d.title for d in split.dev]
    held = split_relations(["P1", "P2", "P3", "P4", "P5"], 3, seed=0, always=("P2", "P9"))
    assert "P2" in held and "P9" not in held and len(held) == 3


def test_every_mention_is_marked_and_found_again():
    doc = Document("Ann met Bob in Paris. Bob left.",
                   [DocumentEntity(((0, 3),)), DocumentEntity(((8, 11), (22, 25))), DocumentEntity(((15, 20),))])
    marked = mark_document(doc)
    assert marked.text == "* Ann * met * Bob * in * Paris *. * Bob * left."
    assert [[marked.text[a:b] for a, b in spans] for spans in marked.mentions] == [["* Ann"], ["* Bob", "* Bob"],
                                                                                   ["* Paris"]]
    assert marked.text[marked.sentence_starts[1]:].startswith("* Bob * left.")
    # Adjacent mentions: the closing marker of one comes before the opening marker of the next.
    adjacent = mark_document(Document("AnnBob", [DocumentEntity(((0, 3),)), DocumentEntity(((3, 6),))]))
    assert adjacent.text == "* Ann ** Bob *"
    assert [[adjacent.text[a:b] for a, b in s] for s in adjacent.mentions] == [["* Ann"], ["* Bob"]]
    # A mention inside another is pooled but not marked.
    nested = mark_document(Document("New York City", [DocumentEntity(((0, 13),)), DocumentEntity(((0, 8),))]))
    assert nested.text == "* New York City *"
    assert [[nested.text[a:b] for a, b in s] for s in nested.mentions] == [["* New York City"], ["New York"]]


def test_an_instance_is_a_document_of_two_entities():
    x = make_instance("Ann married Bob.", Mention(0, 3, "urn:a"), Mention(12, 15))
    doc = instance_document(x, head_classes=["person"])
    assert [e.mentions for e in doc.entities] == [((0, 3),), ((12, 15),)]
    assert doc.entities[0].iri == "urn:a" and doc.entities[0].classes == ("person",)
    assert len(doc.sentences) == 1


def test_entities_pool_their_mentions_and_pairs_read_their_sentences():
    doc = Document("Ann is. Cat do.", [DocumentEntity(((0, 3), (8, 11))), DocumentEntity(((4, 6),))])
    marked = mark_document(doc)
    assert marked.text == "* Ann * * is *. * Cat * do."
    offsets = torch.tensor([(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", marked.text)])
    tokens = [marked.text[a:b] for a, b in offsets.tolist()]
    assert tokens == ["*", "Ann", "*", "*", "is", "*", ".", "*", "Cat", "*", "do", "."]
    states = torch.arange(len(tokens) * 2, dtype=torch.float).reshape(len(tokens), 2) / 10
    reading = read_document(states, offsets, marked, doc)
    # Entity 0: mentions "* Ann" (tokens 0-1) and "* Cat" (tokens 7-8); logsumexp of the two means, minus log 2.
    m1, m2 = states[0:2].mean(0), states[7:9].mean(0)
    expected = torch.logsumexp(torch.stack([m1, m2]), 0) - math.log(2)
    assert torch.allclose(reading.entities[0], F.normalize(expected, dim=0))
    assert torch.allclose(reading.entities[1], F.normalize(states[3:5].mean(0), dim=0))
    assert reading.token_sentence.tolist() == [0] * 7 + [1] * 5
    assert reading.entity_sentences == [{0, 1}, {0}]
    # Untrained (no query), a pair's context is the mean of the tokens of the sentences that mention either.
    enc = pair_encodings(reading, [(0, 1)], None)
    assert torch.allclose(enc.sentence[0], F.normalize(states.mean(0), dim=0))
    assert torch.equal(enc.reversed().head, enc.tail)


def test_a_pair_context_keeps_to_the_sentences_of_its_entities():
    states = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    entities = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), dim=1)
    reading = DocumentReading(states, entities, torch.tensor([0, 0, 1, 1]), [{0}, {0}, {1}])
    enc = pair_encodings(reading, [(0, 1), (0, 2)], None)
    assert torch.allclose(enc.sentence[0], torch.tensor([1.0, 0.0]))  # sentence 0 only
    assert torch.allclose(enc.sentence[1], F.normalize(torch.tensor([1.0, 1.0]), dim=0))  # both sentences


def test_a_span_inside_a_token_takes_the_tokens_it_overlaps():
    offsets = torch.tensor([[0, 5], [6, 10]])
    assert token_masks(offsets, [(1, 3), (6, 10)]).tolist() == [[True, False], [False, True]]


def test_the_evaluator_counts_by_hand():
    first, second = load_docred(DATA / "tiny_docred.json")
    relations = ["P569", "P19", "P27", "P26", "P17", "P131"]
    evaluator = DocumentEvaluator([first, second], relations, trained=["P17", "P131", "P27"])
    returned = [
        {(0, "P569", 1): 0.9,  # right, in one sentence
         (0, "P26", 4): 0.8,  # right, in one sentence
         (4, "P19", 5): 0.3,  # right but under the threshold
         (2, "P17", 0): 0.7,  # wrong (Valletta is no country of Orsina Vella)
         (0, "P131", 6): 0.9},  # a withheld pair: not counted
        {(1, "P17", 2): 0.6, (1, "P131", 2): 0.55, (0, "P17", 2): 0.2, (2, "P17", 0): 0.1},
    ]
    out = evaluator(returned, 0.5)["groups"]
    # All: returned 5 (2 + 1 wrong + 2), right 4; gold 6 + 4 = 10, each with its entities in one sentence
    # (Kast is mentioned again beside Mdina).
    assert out["all"]["returned"] == 5 and out["all"]["right"] == 4
    assert out["all"]["gold"] == 10 and out["all"]["gold_in_sentence"] == 10
    assert out["all"]["precision"] == 0.8 and out["all"]["recall"] == 0.4 and out["all"]["recall_in_sentence"] == 0.4
    assert out["all"]["f1"] == pytest.approx(round(2 * 0.8 * 0.4 / 1.2, 4))
    # Trained relations (P17, P131, P27): returned 3 (one wrong), gold P27 + 4 = 5.
    assert out["trained"]["returned"] == 3 and out["trained"]["right"] == 2 and out["trained"]["gold"] == 5
    # At 0.25 the P19 fact counts too, at 0.15 also (0, P17, 2), at 0.1 the reversed, wrong one.
    curve = {p["threshold"]: p for p in evaluator(returned, 0.5)["curve"]["all"]}
    assert curve[0.25]["recall"] == 0.5 and curve[0.15]["recall"] == 0.6 and curve[0.15]["precision"] == round(6 / 7, 4)
    assert curve[0.1]["precision"] == 0.75
