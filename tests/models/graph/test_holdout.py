"""Entities held out of training and brought back (models.graph.holdout, bench/new_entities.py)."""

from __future__ import annotations

import pytest
import torch

from kgrel.kg.export import GraphExport
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.evaluation import filtered_ranks, known_tails, lp_metrics
from kgrel.models.graph.holdout import entity_table, hold_out_entities, type_agreement
from kgrel.models.graph.link_predictor import LPConfig

CITIES = ["paris", "rome", "oslo"]
ASKED = range(12)  # people whose livesIn fact is a test triple


def city(i: int) -> str:
    return CITIES[i % 3]


def toy_splits(people: int = 36) -> tuple[list, list]:
    """People who work and live in the same city; the livesIn facts of the first 12 are the test split."""
    train = [(f"p{i}", "worksIn", city(i)) for i in range(people)]
    train += [(f"p{i}", "livesIn", city(i)) for i in range(people) if i not in ASKED]
    test = [(f"p{i}", "livesIn", city(i)) for i in ASKED]
    return train, test


def test_every_fact_of_a_held_out_entity_leaves_training_and_comes_back():
    train, test = toy_splits()
    hold = hold_out_entities(train, test, share=0.4, seed=3)
    assert len(hold.held_out) == round(0.4 * 15)  # 12 people and 3 cities in the test split
    assert not any(h in hold.held_out or t in hold.held_out for h, _, t in hold.base)
    assert all(h in hold.held_out or t in hold.held_out for h, _, t in hold.arrived)
    assert sorted(hold.base + hold.arrived) == sorted(train)
    assert hold.test and all(h in hold.held_out or t in hold.held_out for h, _, t in hold.test)
    assert hold.dropped == len([x for x in test if x[0] in hold.held_out or x[2] in hold.held_out]) - len(hold.test)
    assert hold_out_entities(train, test, 0.4, seed=3).held_out == hold.held_out  # seeded
    assert hold_out_entities(train, test, 0.4, seed=4).held_out != hold.held_out
    facts = hold.facts_of()
    assert all(e in (h, t) for e, rows in facts.items() for h, _, t in rows)
    with pytest.raises(ValueError, match="share"):
        hold_out_entities(train, test, 1.0)


def test_folded_in_newcomers_rank_their_city_and_sit_with_their_neighbours():
    train, test = toy_splits()
    hold = hold_out_entities(train, test, share=0.4, seed=1)  # six people, no city
    kg = KGEmbeddings.train(GraphExport.of(hold.base), LPConfig(rank=16, epochs=60, lr=0.2, n3=1e-3, precision="fp32"),
                            progress=False)
    facts = hold.facts_of()
    facts["loner"] = [("loner", "worksIn", "nowhere")]  # no fact with a trained entity: nothing to fold in from
    nodes = GraphExport.of(train).nodes + ["loner"]
    table, embedded = entity_table(kg, nodes, facts)
    trained = [i for i, iri in enumerate(nodes) if iri in kg.export.node_index]
    assert torch.equal(table[trained], kg.entities[[kg.export.node_index[nodes[i]] for i in trained]])
    assert embedded[:-1].all() and not embedded[-1] and not table[-1].any()

    index = {iri: i for i, iri in enumerate(nodes)}
    relations = kg.export.relation_index
    asked = torch.tensor([(index[h], relations[r], index[t]) for h, r, t in hold.test])
    known = known_tails(torch.tensor([(index[h], relations[r], index[t]) for h, r, t in train + test]), len(relations))
    ranks = filtered_ranks(kg.model, asked, known, entities=table)[: len(asked)]  # tails: the city
    assert lp_metrics(ranks)["mrr"] >= 0.9, ranks

    types = {f"p{i}": {f"lives in {city(i)}"} for i in range(36)}
    people = [e for e in hold.held_out if e.startswith("p")]
    agreement = type_agreement(table, nodes, people, torch.tensor([i in trained for i in range(len(nodes))]), types,
                               k=5)
    assert agreement["entities"] == len(people)
    assert agreement["share_at_random"] == pytest.approx(1 / 3, abs=0.05)
    assert agreement["share_of_5_nearest_sharing_a_class"] >= 0.8
