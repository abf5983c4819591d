"""The cross-encoder fact verifier (measured with bench/extraction_precision.py --verifier): pooling maths,
training on a tiny fixture with the real packaged encoder, save/load, and the second-opinion hook."""

from pathlib import Path

import pytest
import torch

from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.instances import reverse
from kgrel.models.relation.prototypes import PrototypeSet
from kgrel.models.relation.side_info import relation_text
from kgrel.models.relation.verifier import (
    WEIGHTS_FILE,
    FactVerifier,
    Serving,
    VerifiedScores,
    pool,
    pooling_weight,
    train_verifier,
)

DATA = Path(__file__).resolve().parents[2] / "data"


def test_the_verifier_weighs_less_as_a_relation_gains_examples():
    weight = pooling_weight(torch.tensor([0, 1, 5]), worth=1.5, side_weight=2.0)
    assert weight.tolist() == pytest.approx([1.5 / 3.5, 1.5 / 4.5, 1.5 / 8.5])
    # Outside the K range it was measured to help at, it has no say.
    weight = pooling_weight(torch.tensor([0, 1, 4, 5]), worth=1.5, side_weight=2.0, examples=(1, 4))
    assert weight.tolist() == pytest.approx([0.0, 1.5 / 4.5, 1.5 / 7.5, 0.0])
    assert pooling_weight(torch.tensor([9]), 1.5, 2.0, examples=(1, None)).item() > 0
    p, v = torch.tensor([[0.8, 0.2]]), torch.tensor([[0.1, 0.9]])
    assert torch.allclose(pool(p, v, torch.zeros(2)), p)
    assert torch.allclose(pool(p, v, torch.ones(2)), v)
    # Half and half is the geometric mean: a confident "no" from either side pulls the fact down.
    assert torch.allclose(pool(p, v, torch.full((2,), 0.5)), (p * v).sqrt())


@pytest.fixture(scope="module", params=[None, 3], ids=["read-together", "joined-from-3"])
def trained(request, tmp_path_factory):
    # Three sentences of each of two relations, learnt by heart: enough to show that training moves the
    # verdicts the right way, in seconds. Read together from the first layer, or apart below the fourth.
    data = {r: items[:3] for r, items in load_fewrel(DATA / "tiny_biomed.json").items()
            if r in ("B_treats", "B_inhibits")}
    info = load_side_info(DATA / "tiny_biomed_side_info.json")
    texts = {r: relation_text(info[r]) for r in data}
    # Only the top three layers learn, as for the shipped verifier.
    verifier, history = train_verifier(data, texts, steps=25, sentences=4, others=1, lr=1e-4, warmup=3,
                                       trained_layers=3, joined_from=request.param, log=lambda line: None)
    folder = tmp_path_factory.mktemp("verifier")
    verifier.save(folder, {"relations": sorted(data)})
    return verifier, folder, data, info, texts, history


def test_training_tells_the_stated_fact_from_the_reversed_pair_and_other_relations(trained):
    verifier, _, data, _, texts, history = trained
    assert history[-1]["step"] == 25
    relations = sorted(data)
    sentences = [(r, x) for r in relations for x in data[r]]
    stated = verifier.probabilities([x for _, x in sentences], [texts[r] for r, _ in sentences])
    turned = verifier.probabilities([reverse(x) for _, x in sentences], [texts[r] for r, _ in sentences])
    other = verifier.probabilities([x for _, x in sentences],
                                   [texts[relations[(relations.index(r) + 1) % len(relations)]] for r, _ in sentences])
    assert stated.mean() > turned.mean() + 0.2
    assert stated.mean() > other.mean() + 0.2


def test_a_saved_verifier_holds_only_what_it_learnt_and_loads_with_the_same_verdicts(trained):
    from safetensors.torch import load_file

    verifier, folder, data, _, texts, _ = trained
    saved = load_file(str(folder / WEIGHTS_FILE))
    assert not any(k.startswith(("encoder.embeddings.", "encoder.encoder.layer.0.")) for k in saved)
    assert any(k.startswith("encoder.encoder.layer.5.") for k in saved) and "head.0.weight" in saved
    sentences = [x for items in data.values() for x in items]
    again = FactVerifier.load(folder)
    assert again.joined_from == verifier.joined_from
    # Half precision on disk: the verdicts move in the third decimal at most.
    assert torch.allclose(again.probabilities(sentences, [texts["B_treats"]] * len(sentences)),
                          verifier.probabilities(sentences, [texts["B_treats"]] * len(sentences)), atol=5e-3)
    with pytest.raises(FileNotFoundError, match="verifier.json"):
        FactVerifier.load(folder.parent)


def test_a_verdict_does_not_depend_on_what_else_is_read_with_it(trained):
    # Batched by length, padded, and (read apart) with a relation text's lower layers kept from an earlier
    # call: a pair's verdict is its own all the same.
    verifier, _, data, _, texts, _ = trained
    sentences = [x for items in data.values() for x in items]
    cells = [(x, texts[r]) for x in sentences + [reverse(y) for y in sentences] for r in sorted(texts)]
    together = verifier.probabilities([x for x, _ in cells], [t for _, t in cells])
    alone = torch.cat([verifier.probabilities([x], [t]) for x, t in cells])
    assert torch.allclose(together, alone, atol=1e-5)
    assert together.std() > 0.05  # and they are verdicts, not one value
    assert verifier.probabilities([], []).shape == (0,)  # a request with nothing worth reading


def test_reading_apart_needs_the_layers_below_the_join_frozen():
    with pytest.raises(ValueError, match="trained_layers at most 3"):
        FactVerifier(trained_layers=4, joined_from=3)
    with pytest.raises(ValueError, match="trained_layers at most"):
        FactVerifier(joined_from=3)  # every layer would learn
    with pytest.raises(ValueError, match="between 1 and 5"):
        FactVerifier(trained_layers=6, joined_from=0)


def test_the_second_opinion_pools_each_reading_with_its_own_verdict(trained):
    verifier, _, data, _, texts, _ = trained
    iris = ["B_treats", "B_inhibits"]
    protos = PrototypeSet(iris, iris, torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor([0, 3]),
                          texts=[texts[r] for r in iris])
    verified = VerifiedScores(verifier, Serving(worth=1.5, examples=(0, None)))
    pairs = [data["B_treats"][1], data["B_inhibits"][1]]
    rescore = verified.for_pairs(pairs, protos, side_weight=2.0)
    prob = torch.full((2, 2), 0.6)
    fwd, bwd, lowers_only = rescore(torch.tensor([1, 0]), prob, prob)  # columns in another order than protos'
    columns = [texts["B_inhibits"], texts["B_treats"]]

    def verdicts(instances):
        return verifier.probabilities([x for x in instances for _ in columns], columns * len(instances)).view(2, 2)

    as_asked = verdicts(pairs)
    turned = verdicts([reverse(x) for x in pairs])
    weight = pooling_weight(torch.tensor([3, 0]), 1.5, 2.0)
    assert torch.allclose(fwd, pool(prob, as_asked, weight), atol=1e-5)
    assert torch.allclose(bwd, pool(prob, turned, weight), atol=1e-5)
    assert not lowers_only.any()  # no veto range: every verdict may lift and lower


def test_cells_that_cannot_matter_keep_their_score_and_are_not_read(trained):
    verifier, _, data, _, texts, _ = trained
    iris = ["B_treats", "B_inhibits"]
    protos = PrototypeSet(iris, iris, torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor([0, 1]),
                          texts=[texts[r] for r in iris])
    verified = VerifiedScores(verifier, Serving(worth=1.5, examples=(1, 4), reach=0.5))
    pair = data["B_treats"][1]
    rescore = verified.for_pairs([pair], protos, side_weight=2.0)
    # B_treats has K=0, outside the range: kept. B_inhibits (w = 1/3): read as asked (0.6), not reversed,
    # since 0.3^(2/3) = 0.45 cannot reach 0.5 whatever the verdict.
    forward, backward = torch.tensor([[0.6, 0.6]]), torch.tensor([[0.6, 0.3]])
    fwd, bwd, _ = rescore(torch.tensor([0, 1]), forward, backward)
    assert fwd[0, 0] == 0.6 and bwd[0, 0] == 0.6 and bwd[0, 1] == 0.3
    verdict = verifier.probabilities([pair], [texts["B_inhibits"]])
    assert torch.allclose(fwd[0, 1], pool(torch.tensor(0.6), verdict[0], torch.tensor(1.5 / 4.5)), atol=1e-5)
    assert list(verified._cache) == [(pair, texts["B_inhibits"])]
    verified.clear()
    assert not verified._cache


def test_the_verdict_cache_keeps_the_most_recent_and_answers_past_its_size(trained):
    verifier, _, data, _, texts, _ = trained
    verified = VerifiedScores(verifier, cache_size=2)
    pairs = data["B_treats"][:3]
    cells = [(x, texts["B_treats"]) for x in pairs]
    expected = verifier.probabilities(pairs, [texts["B_treats"]] * 3).tolist()
    assert verified.verdicts(cells) == pytest.approx(expected, abs=1e-6)
    assert list(verified._cache) == cells[1:]
    # A cached verdict is the one returned: the same again, and the oldest read afresh.
    assert verified.verdicts(cells[:1] + cells[2:]) == pytest.approx([expected[0], expected[2]], abs=1e-6)
    assert list(verified._cache) == [cells[2], cells[0]]


def test_a_veto_reads_only_the_readings_over_the_threshold_of_each_pairs_best_relations():
    serving = Serving(worth=1.5, examples=(1, 1), veto=(0, 0), reach=0.5, veto_top=2)
    k = torch.tensor([0, 0, 0, 1])  # three relations with no examples, one with one
    lift, lower = serving.weights(k, side_weight=2.0, pooled=False)  # no examples' threshold: nothing lifts
    assert lift.tolist() == [0, 0, 0, 0] and (lower[:3] > 0).all() and lower[3] == 0
    forward = torch.tensor([[0.9, 0.6, 0.7, 0.9]])
    backward = torch.tensor([[0.55, 0.2, 0.3, 0.9]])
    need_f, need_b = serving.worth_reading(forward, backward, lift, lower)
    # The pair's two best relations with no examples are 0 (0.9) and 2 (0.7): their readings over 0.5 are
    # read, relation 1 (0.6) is beyond the best two, relation 3 is neither pooled nor vetoed.
    assert need_f.tolist() == [[True, False, True, False]] and need_b.tolist() == [[True, False, False, False]]
    lift, lower = serving.weights(k, side_weight=2.0, pooled=True)  # pooled: relation 3 may be lifted too
    need_f, need_b = serving.worth_reading(forward, backward, lift, lower)
    assert need_f[0, 3] and need_b[0, 3] and lower[3] == 0
