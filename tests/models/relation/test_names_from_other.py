"""Context or names: `swap_mentions` puts another sentence's names into a sentence, and
bench/extraction_precision.py --names-from-other asks every query that way and reports how often the
answer is the relation the names come from."""

from pathlib import Path

import pytest

from bench.extraction_precision import run_seed
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.instances import Mention, RelationInstance, swap_mentions

DATA = Path(__file__).resolve().parents[2] / "data"


def test_swapped_names_keep_the_words_and_take_the_donors_names_in_their_roles():
    born = RelationInstance("Mozart was born in Salzburg.", Mention(0, 6), Mention(19, 27))
    # The donor's head comes after its tail in the text: roles, not positions, are what is swapped.
    donor = RelationInstance("Verdi wrote Aida.", Mention(12, 16), Mention(0, 5))
    swapped = swap_mentions(born, donor)
    assert swapped.text == "Aida was born in Verdi."
    assert (swapped.head_text, swapped.tail_text) == ("Aida", "Verdi")
    assert swap_mentions(swapped, born).text == born.text


def test_names_from_other_relations_are_reported_apart_from_right_answers(model):
    data = load_fewrel(DATA / "tiny_biomed.json")
    info = load_side_info(DATA / "tiny_biomed_side_info.json")
    relations = [info[r] for r in sorted(data)]
    plain = run_seed(model, data, relations, info, [0, 1], 1, seed=0, per_relation=3)
    swapped = run_seed(model, data, relations, info, [0, 1], 1, seed=0, per_relation=3, names_from_other=True)
    assert swapped["queries"] == plain["queries"] == 24
    for k in ("K=0", "K=1"):
        assert "names_followed" not in plain["results"][k]
        result = swapped["results"][k]
        # A donor is always of another relation, so an answer follows the names or is right, never both.
        assert 0 <= result["names_followed"] <= 1 - result["right_relation"]
    # The names changed what was asked: the answers are not the plain run's.
    assert swapped["curves"] != plain["curves"]


@pytest.mark.parametrize("donors", ["same", "other"])
def test_training_swaps_names_within_or_across_relations(model, donors):
    from kgrel.models.relation.training import RelationTrainer, TrainConfig

    data = load_fewrel(DATA / "tiny_biomed.json")
    info = load_side_info(DATA / "tiny_biomed_side_info.json")
    trainer = RelationTrainer(model, data, info, None, TrainConfig(entity_swaps=1, entity_swap_donors=donors))
    for relation in data:
        names = {(x.head_text, x.tail_text) for x in trainer._swap_donors(relation)}
        own = {(x.head_text, x.tail_text) for x in data[relation]}
        assert (names == own) if donors == "same" else not (names & own)
