"""ULTRA (`models.graph.ultra`): the graph of relations by hand, the fast and the message-passing sums agree,
the shipped weights give the scores they gave when pinned, and a graph never seen is reasoned about."""

from __future__ import annotations

import json

import pytest
import torch

from kgrel.app.config import Settings
from kgrel.models.graph.ultra import FactGraph, RelationalConv, Ultra, fused_sum, relation_graph
from kgrel.models.graph.ultra_training import Answers, UltraTrainConfig, ranks, train
from tests.conftest import DATA


def tiny_triples(people: int = 12) -> tuple[list[tuple[int, int, int]], int]:
    """Three cities (ids 0-2), then people who work in a city and (all but the first) live there;
    relations 0 worksIn, 1 livesIn, 2 knows (each person knows the next). Returns triples, entity count."""
    triples = []
    for i in range(people):
        person, city = 3 + i, i % 3
        triples.append((person, 0, city))
        if i > 0:
            triples.append((person, 1, city))
        triples.append((person, 2, 3 + (i + 1) % people))
    return triples, 3 + people


def tiny_graph(people: int = 12) -> FactGraph:
    triples, entities = tiny_triples(people)
    return FactGraph.from_triples(torch.tensor(triples), entities, 3)


def test_the_graph_of_relations_by_hand():
    # r0: 0 -> 1, r1: 1 -> 2, r0: 2 -> 3, r2: 0 -> 3
    edge_index, edge_type = torch.tensor([[0, 1, 2, 0], [1, 2, 3, 3]]), torch.tensor([0, 1, 0, 2])
    index, kind = relation_graph(edge_index, edge_type, 4, 3)
    got = {(a, b, k) for a, b, k in zip(index[0].tolist(), index[1].tolist(), kind.tolist(), strict=True)}
    # heads: r0 {0, 2}, r1 {1}, r2 {0}; tails: r0 {1, 3}, r1 {2}, r2 {3}
    assert {(a, b) for a, b, k in got if k == 0} == {(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)}  # head-head
    assert {(a, b) for a, b, k in got if k == 1} == {(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)}  # tail-tail
    assert {(a, b) for a, b, k in got if k == 2} == {(0, 1), (1, 0)}  # head of a = tail of b
    assert {(a, b) for a, b, k in got if k == 3} == {(0, 1), (1, 0)}


def test_one_layer_by_hand_and_the_fast_sum_agrees_with_message_passing():
    torch.manual_seed(0)
    edge_index, edge_type = torch.tensor([[0, 1, 2, 0], [1, 2, 3, 3]]), torch.tensor([0, 1, 0, 2])
    conv = RelationalConv(4, 3)
    state, boundary = torch.randn(2, 4, 4), torch.randn(2, 4, 4)
    relation = conv.relation.weight.expand(2, -1, -1)
    summed = torch.zeros(2, 4, 4)
    for e in range(edge_index.shape[1]):  # messages flow from edge_index[1] into edge_index[0]
        summed[:, edge_index[0, e]] += state[:, edge_index[1, e]] * relation[:, edge_type[e]]
    expected = torch.relu(conv.layer_norm(conv.linear(torch.cat([state, summed + boundary], -1))))
    assert torch.allclose(conv(state, boundary, edge_index, edge_type), expected, atol=1e-6)
    propagated = conv.propagate(edge_index, state=state, relation=relation, edge_type=edge_type, size=(4, 4))
    assert torch.allclose(propagated, summed, atol=1e-6)  # PyG's message passing, by the definition
    with torch.no_grad():
        assert torch.allclose(conv(state, boundary, edge_index, edge_type), expected, atol=1e-6)
        assert torch.allclose(fused_sum(state, relation, edge_index, edge_type, rows=2), summed, atol=1e-6)


@pytest.mark.parametrize("rows", [2, 5, 16384])  # a slice of edges smaller than the batch, uneven, all at once
def test_the_fused_sum_has_the_gradients_of_message_passing(rows):
    """Training runs through `fused_sum`'s own backward pass: its gradients for the states and for the
    per-query relation vectors are those of autograd through PyG's per-edge messages (and of a numerical check)."""
    torch.manual_seed(0)
    graph = tiny_graph(people=5)
    edge_index, edge_type = graph.edge_index, graph.edge_type
    conv = RelationalConv(3, None, project=True).double()
    state = torch.randn(2, graph.num_nodes, 3, dtype=torch.double, requires_grad=True)
    relation = torch.randn(2, graph.num_relations, 3, dtype=torch.double, requires_grad=True)
    weights = torch.randn(2, graph.num_nodes, 3, dtype=torch.double)
    size = (graph.num_nodes, graph.num_nodes)
    reference = torch.autograd.grad((conv.propagate(edge_index, state=state, relation=relation, edge_type=edge_type,
                                                    size=size) * weights).sum(), [state, relation])
    fused = torch.autograd.grad((fused_sum(state, relation, edge_index, edge_type, rows=rows) * weights).sum(),
                                [state, relation])
    for got, want in zip(fused, reference, strict=True):
        assert torch.allclose(got, want, atol=1e-10)
    assert torch.autograd.gradcheck(lambda s, r: fused_sum(s, r, edge_index, edge_type, rows=rows),
                                    (state, relation))


def test_the_shipped_checkpoint_gives_the_pinned_scores():
    model = Ultra.load(Settings().ultra_checkpoint)
    assert sum(p.numel() for p in model.parameters()) == 168_705
    with torch.no_grad():
        scores = model(tiny_graph(), torch.tensor([3, 3, 7]), torch.tensor([0, 1, 5]),
                       torch.tensor([[0, 1, 2], [0, 1, 2], [3, 4, 5]]))
    # Computed once with this implementation after it reproduced the authors' GraIL figures.
    assert torch.allclose(scores, torch.tensor(PINNED), atol=1e-3), scores


PINNED = [[2.2435, 1.5510, 1.5510], [2.2442, 1.5632, 1.5632], [0.9250, 2.8061, 1.3271]]

# The authors' code (github.com/DeepGraphLearning/ULTRA, ultra_3g.pth, its Ultra model and tasks.all_negative) on
# the first 200 triples of GraIL's nell_v1_ind: a small graph with few relations, unlike FB15k-237, that ultra_3g
# never saw. Entities and relations numbered in order of first appearance, inverses r + R, as its datasets do.
NELL_QUERIES = [[0, 0, 1], [49, 1, 1], [20, 0, 1], [148, 6, 4]]  # (head, relation, tail)
NELL_COLUMNS = [0, 1, 2, 3, 5, 8]
NELL_TAILS = [[-2.9194, 5.909, -1.1319, -4.592, -1.1319, -1.3805],
              [-1.0828, 5.906, -2.6742, -4.7374, -2.6742, -3.0528],
              [-3.058, 5.8933, -1.3173, -4.2086, -1.3173, -1.5879],
              [-6.0989, -6.892, -6.0989, -6.7344, -6.0989, -5.5346]]
NELL_HEADS = [[-0.1444, -8.4217, 1.1752, -1.9973, 1.1752, 0.4603],
              [1.2158, -8.3813, -0.0995, -2.0218, -0.0995, -0.9951],
              [-0.1444, -8.4217, 1.1752, -1.9973, 1.1752, 0.4603],
              [0.1999, -6.603, 0.1999, -4.5779, 0.1999, -1.2337]]


def test_a_small_nell_graph_gets_the_authors_scores():
    import gzip

    from kgrel.models.graph.ultra_training import Vocabulary

    with gzip.open(DATA / "nell_v1_ind_sample.tsv.gz", "rt") as f:
        rows = [tuple(line.rstrip("\n").split("\t")) for line in f]
    vocab = Vocabulary()
    triples = vocab.index(rows)
    assert (len(vocab.entities), len(vocab.relations)) == (149, 9)
    graph = FactGraph.from_triples(triples, len(vocab.entities), len(vocab.relations))
    model = Ultra.load(Settings().ultra_checkpoint)
    q = torch.tensor(NELL_QUERIES)
    with torch.no_grad():
        tails = model(graph, q[:, 0], q[:, 1])[:, NELL_COLUMNS]
        heads = model(graph, q[:, 2], q[:, 1] + len(vocab.relations))[:, NELL_COLUMNS]
    assert torch.allclose(tails, torch.tensor(NELL_TAILS), atol=2e-3), tails
    assert torch.allclose(heads, torch.tensor(NELL_HEADS), atol=2e-3), heads


def test_an_entity_added_later_is_reasoned_about_like_its_structural_twin():
    model = Ultra.load(Settings().ultra_checkpoint)
    triples, entities = tiny_triples()
    with torch.no_grad():  # p0 (id 3) works in paris and has no livesIn fact: it lives in paris
        assert model(tiny_graph(), torch.tensor([3]), torch.tensor([1]))[0, :3].argmax().item() == 0
    # A newcomer with p0's edges (works in paris, knows p1), which no model was trained with, is ranked
    # as p0 is: its best answer out of every entity is p0's.
    newcomer = entities
    grown = FactGraph.from_triples(torch.tensor(triples + [(newcomer, 0, 0), (newcomer, 2, 4)]), entities + 1, 3)
    with torch.no_grad():
        scores = model(grown, torch.tensor([newcomer, 3]), torch.tensor([1, 1]))
    assert scores.argmax(1).tolist() == [0, 0]
    assert abs(scores[0, 0] - scores[1, 0]) < 0.05


@pytest.mark.parametrize("start", ["checkpoint", "scratch"])
def test_training_lowers_the_loss_and_ranks(start):
    graph, triples = tiny_graph(), torch.tensor(tiny_triples()[0])
    model = Ultra.load(Settings().ultra_checkpoint) if start == "checkpoint" else Ultra()
    history = train(model, graph, triples, UltraTrainConfig(epochs=3, batch_size=8, negatives=8, lr=5e-3))
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"] * 1.05
    full, sampled = ranks(model, graph, triples[:4], Answers(triples, 3), negatives=5)
    assert full.shape == sampled.shape == (8,) and (full >= 1).all() and (full <= graph.num_nodes).all()
    assert (sampled <= full).all() and (sampled <= 6).all()  # out of 5 negatives, never below a full rank


def write_split(folder, prefix: str, people: int, held_out: int) -> None:
    """A GraIL-like split: train.txt (people who work and live in a city, `held_out` of them without their
    livesIn fact), test.txt (those facts) and valid.txt; entity names start with `prefix`."""
    folder.mkdir(parents=True, exist_ok=True)
    cities = [f"{prefix}city{c}" for c in range(3)]
    train, test = [], []
    for i in range(people):
        person, city = f"{prefix}{i}", cities[i % 3]
        train.append((person, "worksIn", city))
        train.append((person, "knows", f"{prefix}{(i + 1) % people}"))
        (test if i < held_out else train).append((person, "livesIn", city))
    for name, rows in (("train.txt", train), ("test.txt", test[: held_out // 2]), ("valid.txt", test[held_out // 2:])):
        (folder / name).write_text("".join("\t".join(r) + "\n" for r in rows))


@pytest.mark.parametrize("checkpoint", ["shipped", "none"])
def test_the_eval_command_on_an_inductive_fixture(tmp_path, checkpoint):
    import subprocess
    import sys

    write_split(tmp_path / "toy_v1", "p", people=30, held_out=6)
    write_split(tmp_path / "toy_v1_ind", "q", people=24, held_out=8)  # other entities, same relations
    ind = tmp_path / "toy_v1_ind"
    args = [sys.executable, "-m", "kgrel.app.cli", "kg", "eval-lp", "--gnn", "ultra",
            "--train", str(tmp_path / "toy_v1" / "train.txt"), "--valid", str(tmp_path / "toy_v1" / "valid.txt"),
            "--test", str(ind / "test.txt"), "--inference-graph", str(ind / "train.txt")]
    saved = tmp_path / "ours" / "toy.pt"
    if checkpoint == "none":
        args += ["--checkpoint", "none", "--epochs", "2", "--negatives", "16", "--save", str(saved)]

    def evaluate(args):
        done = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["test_triples"] == 4 and result["facts"] == 24 * 2 + 24 - 8 and result["entities"] == 27
        # Filtered against all of the inference graph's folder: its valid triples are true there too.
        assert str(ind / "valid.txt") in result["filtered_with"]
        assert 0 < result["mrr"] <= 1 and result["hits@10_of_51"] >= result["hits@10"] - 1e-9
        return result

    result = evaluate(args)
    if checkpoint == "shipped":
        assert result["pretrained_on"] == ["FB15k-237", "WN18RR", "CoDEx-M"] and "train_seconds" not in result
        assert result["hits@1"] >= 0.5  # the rule (livesIn where one works) is found with no training
    else:
        assert result["pretrained_on"] == [] and result["epochs"] == 2 and result["checkpoint"] is None
        assert result["saved_pretrained_on"] == ["toy_v1"]
        # The saved weights start a later run, which knows what they learned from and ranks as they did.
        again = evaluate(args[:args.index("--checkpoint")] + ["--checkpoint", str(saved)])
        assert again["pretrained_on"] == ["toy_v1"] and "train_seconds" not in again
        assert again["mrr"] == pytest.approx(result["mrr"], abs=1e-6)


def test_ultra_plausibility_as_relation_evidence(toy_store):
    """The relation model's plausibility evidence from ULTRA: a held-out person's true city is more
    plausible than the others, for relations and pairs the graph knows; nothing where it does not."""
    from kgrel.kg.export import export_graph
    from kgrel.models.fusion.evidence import GraphContext, LinkedMention, UltraPlausibility
    from kgrel.models.graph.reasoner import GraphReasoner

    ex = "http://example.org/"
    ultra = UltraPlausibility(GraphReasoner.load(Settings().ultra_checkpoint, export_graph(toy_store)))
    pairs = [(ex + "p0", ex + "paris"), (ex + "p0", ex + "rome"), (ex + "nobody", ex + "paris")]
    relations = [ex + "livesIn", ex + "unknownRelation"]
    contexts = [GraphContext(LinkedMention(h), LinkedMention(t)) for h, t in pairs]
    contexts.append(GraphContext(LinkedMention(ex + "p0"), LinkedMention()))  # an unlinked tail
    scores, mask = ultra.evidence(contexts, relations)
    assert mask.tolist() == [[True, False], [True, False], [False, False], [False, False]]
    assert scores[0, 0] > scores[1, 0] and scores[1, 0] >= -1 and scores[0, 0] <= 1
    assert torch.equal(ultra.evidence(contexts, relations)[0], scores)  # kept values read the same


def test_weights_of_unknown_origin_stay_marked_unknown_when_fine_tuned_and_saved(tmp_path):
    """A checkpoint with no record of what it learned from cannot make a later figure look clean."""
    from kgrel.models.graph.ultra_training import benchmark

    write_split(tmp_path / "toy_v1", "p", people=12, held_out=4)
    mystery = tmp_path / "mystery.pt"
    torch.save(Ultra().state_dict(), mystery)  # no JSON beside it, not a published name
    split = tmp_path / "toy_v1"
    result = benchmark(split / "train.txt", split / "valid.txt", split / "test.txt", checkpoint=mystery,
                       config=UltraTrainConfig(epochs=1, negatives=8), device="cpu", save=tmp_path / "out.pt")
    assert result["pretrained_on"] is None
    assert result["saved_pretrained_on"] == ["unknown (mystery.pt)", "toy_v1"]
    assert json.loads((tmp_path / "out.json").read_text())["pretrained_on"] == result["saved_pretrained_on"]


def test_a_sampled_test_set_is_drawn_the_same_each_run_and_says_so(tmp_path):
    """`test_sample` ranks a seeded subset of the test triples (filtering against all of them), and the
    figures say how many were ranked and how sure their MRR is."""
    from kgrel.models.graph.ultra_training import benchmark

    write_split(tmp_path / "toy_v1", "p", people=30, held_out=12)
    split = tmp_path / "toy_v1"
    runs = [benchmark(split / "train.txt", split / "valid.txt", split / "test.txt",
                      checkpoint=Settings().ultra_checkpoint, device="cpu", test_sample=3) for _ in range(2)]
    assert runs[0]["test_triples"] == 6 and runs[0]["test_sampled"] == 3
    assert runs[0]["mrr"] == runs[1]["mrr"] and runs[0]["mrr_ci95"] > 0
    whole = benchmark(split / "train.txt", split / "valid.txt", split / "test.txt",
                      checkpoint=Settings().ultra_checkpoint, device="cpu")
    assert "test_sampled" not in whole and "mrr_ci95" not in whole


def test_the_training_batch_is_cut_to_fit_the_memory_allowed():
    from kgrel.models.graph.ultra_training import GraphTooLarge, fitting_batch_size, step_memory

    assert step_memory(1000, 4) == 4 * step_memory(1000, 1) > 0
    assert fitting_batch_size(1000, 16, 100 * step_memory(1000, 1)) == 16  # room to spare: as asked
    assert fitting_batch_size(1000, 16, 5 * step_memory(1000, 1) + 1) == 5
    with pytest.raises(GraphTooLarge, match="1,000,000 entities"):
        fitting_batch_size(1_000_000, 16, step_memory(1_000_000, 1) - 1)



def test_the_memory_free_on_this_machine_is_read():
    import os

    from kgrel.models.device import available_memory

    assert 0 < available_memory("cpu") <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
