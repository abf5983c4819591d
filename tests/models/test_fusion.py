"""Graph evidence by hand: hypernyms against domain and range, and mention contexts asked the other way round."""

from __future__ import annotations

import torch

from kgrel.models.fusion.evidence import GraphContext, LinkedMention, RelationArguments, hypernym_evidence
from kgrel.models.fusion.linking import reversed_contexts


def test_hypernyms_fit_the_domain_on_the_head_side_and_the_range_on_the_tail_side(untrained_model):
    model = untrained_model
    # place of birth: person -> city; its reverse reading puts a city first.
    args = RelationArguments.encode(model, [(["person"], ["city"]), ([], [])])
    person, city, unknown = LinkedMention("ex:p", ["person"]), LinkedMention("ex:c", ["city"]), LinkedMention()
    contexts = [GraphContext(person, city), GraphContext(city, person), GraphContext(person, unknown)]
    scores, mask = hypernym_evidence(model, contexts, args)
    p, c = model.embed_labels(["person", "city"])
    across = float(p @ c)  # how alike the two labels read
    # Both sides fit: (1 + 1) / 2; both the wrong way round: (across + across) / 2; only the head known: 1.
    assert torch.allclose(scores[:, 0], torch.tensor([1.0, across, 1.0]), atol=1e-5)
    assert across < 0.9  # so the wrong way round scores clearly lower
    # A relation without domain or range has no such evidence at all: it scores as without the graph.
    assert mask[:, 0].tolist() == [True, True, True] and mask[:, 1].tolist() == [False, False, False]


def test_reversed_contexts_swap_head_and_tail():
    a, b = LinkedMention("ex:a"), LinkedMention("ex:b")
    [flipped] = reversed_contexts([GraphContext(a, b)])
    assert flipped.head is b and flipped.tail is a
    assert reversed_contexts(None) is None
