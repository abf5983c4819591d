"""Graph evidence by hand: the type-conflict penalty and mention contexts asked the other way round."""

from __future__ import annotations

import torch

from kgrel.models.fusion import (
    GraphContext,
    LinkedMention,
    RelationArguments,
    reversed_contexts,
    type_conflict_evidence,
)


def arguments(*domain_range: tuple[list[str], list[str]]) -> RelationArguments:
    n = len(domain_range)
    empty = torch.zeros(n, 4)
    flags = torch.ones(n, dtype=torch.bool)
    return RelationArguments(empty, flags, empty, flags, [frozenset(x.casefold() for x in d) for d, _ in domain_range],
                             [frozenset(x.casefold() for x in r) for _, r in domain_range])


def test_type_conflict_penalises_only_contradicted_relations():
    # composer: person -> musical work; capital: country -> city; anything: no domain or range.
    args = arguments((["Person"], ["musical work"]), (["country"], ["city"]), ([], []))
    mozart = LinkedMention("ex:mozart", ["composer", "person"])
    flute = LinkedMention("ex:flute", ["opera", "Musical Work"])
    unlinked = LinkedMention()
    contexts = [GraphContext(mozart, flute), GraphContext(flute, mozart), GraphContext(unlinked, unlinked),
                GraphContext(mozart, unlinked)]
    scores, mask = type_conflict_evidence(contexts, args)
    assert scores.tolist() == [[0, -1, 0], [-1, -1, 0], [0, 0, 0], [0, -1, 0]]
    assert torch.equal(mask, scores < 0)


def test_reversed_contexts_swap_head_and_tail():
    a, b = LinkedMention("ex:a"), LinkedMention("ex:b")
    [flipped] = reversed_contexts([GraphContext(a, b)])
    assert flipped.head is b and flipped.tail is a
    assert reversed_contexts(None) is None
