"""Instances, episodes, calibration, prototypes and reading documents with the real encoder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.calibration import Calibration, fit_platt
from kgrel.models.relation.documents import Document, DocumentEntity, mark_document
from kgrel.models.relation.encoder import DocumentWindows, packaged_encoder_path
from kgrel.models.relation.episodes import sample_episodes
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.instances import InvalidInstance, Mention, from_fewrel, make_instance, reverse
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import InstanceViewCache, PrototypeCache, PrototypicalClassifier, reversed_key
from tests.conftest import DATA


def test_fewrel_tokens_become_character_spans():
    inst = from_fewrel({"tokens": ["Paris", "is", "the", "capital", "of", "France", "."],
                        "h": ["France", "Q142", [[5]]], "t": ["Paris", "Q90", [[0]]]})
    assert inst.text == "Paris is the capital of France ."
    assert (inst.head_text, inst.tail_text) == ("France", "Paris")
    assert inst.head.entity == "http://www.wikidata.org/entity/Q142"
    with pytest.raises(InvalidInstance, match="outside"):
        from_fewrel({"tokens": ["a", "b"], "h": ["a", "", [[0]]], "t": ["c", "", [[2]]]})


def test_instance_checks():
    make_instance("Alice met Bob", Mention(0, 5), Mention(10, 13))
    for head, tail, words in [((0, 5), (3, 8), "overlap"), ((0, 0), (6, 9), "non-empty"),
                              ((0, 5), (10, 30), "inside"), ((5, 6), (10, 13), "whitespace")]:
        with pytest.raises(InvalidInstance, match=words):
            make_instance("Alice met Bob", Mention(*head), Mention(*tail))


def test_episodes_are_seeded_and_disjoint():
    data = load_fewrel(DATA / "tiny_fewrel.json")
    a = sample_episodes(data, 5, 2, 10, seed=7)
    assert [e.relations for e in a] == [e.relations for e in sample_episodes(data, 5, 2, 10, seed=7)]
    for ep in a:
        assert len(set(ep.relations)) == 5
        for support, query in zip(ep.support, ep.query, strict=True):
            assert len(support) == 2 and query not in support
    with pytest.raises(ValueError, match="needs 7 relations"):
        sample_episodes(data, 7, 1, 1, seed=0)


def test_nota_episodes_hold_the_asked_share_of_outside_queries():
    data = load_fewrel(DATA / "tiny_fewrel.json")
    plain = sample_episodes(data, 3, 1, 400, seed=5)
    for rate in (0.15, 0.5):
        eps = sample_episodes(data, 3, 1, 400, seed=5, nota_rate=rate)
        share = sum(len(ep.nota) for ep in eps) / (3 * len(eps))
        assert abs(share - rate) < 0.05, (rate, share)
        for ep in eps:
            assert all(r not in ep.relations and 0 <= i < len(data[r]) for r, i in ep.nota.values())
            assert ep.gold() == [3 if c in ep.nota else c for c in range(3)]
            assert [item for c, item in enumerate(ep.query_items()) if c not in ep.nota] == [
                (r, q) for c, (r, q) in enumerate(zip(ep.relations, ep.query, strict=True)) if c not in ep.nota]
    # Without none-of-the-above queries the episodes are the ones sampled before the option existed.
    assert all(not ep.nota for ep in plain) and [e.query for e in plain][:3] == [
        e.query for e in sample_episodes(data, 3, 1, 3, seed=5)]
    with pytest.raises(ValueError, match="relations outside"):
        sample_episodes(data, 6, 1, 1, seed=0, nota_rate=0.5)


def test_side_info_files_in_both_shapes(tmp_path):
    info = load_side_info(DATA / "tiny_side_info.json")
    assert info["R_spouse"].aliases == ["husband", "wife", "married to"]
    pairs = tmp_path / "pairs.json"
    pairs.write_text('{"P26": ["spouse", "the subject has the object as spouse"]}')
    assert load_side_info(pairs)["P26"].description == "the subject has the object as spouse"


def test_platt_fit_recovers_a_known_sigmoid():
    torch.manual_seed(0)
    scores = torch.rand(4000)
    labels = (torch.rand(4000) < torch.sigmoid(12 * scores - 6)).float()
    a, b = fit_platt(scores, labels)
    assert 9 < a < 15 and -7.5 < b < -4.5
    cal = Calibration({0: (a, b)})
    p = cal.probability(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0, 3, 9]))
    assert p[0] < 0.05 and 0.35 < p[1] < 0.65 and p[2] > 0.95


def test_prototype_cache_reencodes_only_what_changed(untrained_model):
    cache = PrototypeCache(untrained_model)
    relations = [RelationInfo("ex:spouse", "spouse", description="married to"),
                 RelationInfo("ex:capital", "capital", description="seat of government")]
    example = make_instance("Rome is the capital of Italy.", Mention(23, 28), Mention(0, 4))
    protos = cache.build(relations, {"ex:capital": [("e1", example)]})
    assert protos.k.tolist() == [0, 1]
    assert len(cache._descriptions) == 2 and len(cache.views._views) == 1  # the example read once (both ways)
    again = cache.build(relations + [RelationInfo("ex:author", "author")], {"ex:capital": [("e1", example)]})
    assert len(cache._descriptions) == 3 and len(cache.views._views) == 1
    assert torch.equal(again.description[:2], protos.description)
    # The example's view in its prototype is the one the shared cache answers when the example is asked.
    asked, _ = cache.views.views(["e1"], [example])
    assert torch.equal(again.example_sum[1], asked[0]) and not again.example_sum[0].any()
    classifier = PrototypicalClassifier(untrained_model)
    [result] = classifier.predict([make_instance("Paris is the capital of France.", Mention(24, 30), Mention(0, 5))],
                                  again, top_k=3)
    assert result.predictions[0].relation == "ex:capital"


def test_instance_view_cache_keeps_the_most_recently_used_and_still_answers(untrained_model):
    views = InstanceViewCache(untrained_model, max_entries=2)
    rome = make_instance("Rome is the capital of Italy.", Mention(23, 28), Mention(0, 4))
    paris = make_instance("Paris is the capital of France.", Mention(24, 30), Mention(0, 5))
    bob = make_instance("Bob met Alice in Paris.", Mention(8, 13), Mention(17, 22))
    first, _ = views.views(["rome", "paris"], [rome, paris])
    # Full: adding "bob" drops the least recently used ("paris"); "rome", asked again, is still answered.
    again, side = views.views(["rome", "bob"], [rome, bob])
    assert torch.allclose(again[0], first[0], atol=1e-5) and again.shape[0] == side.shape[0] == 2
    assert list(views._views) == ["rome", "bob"]
    # Asked and reversed come from one reading: the reversed views are those of the instance turned round.
    (asked, _), (turned, _) = views.both_ways(["rome"], [rome])
    (direct, _), _ = views.both_ways(["rome turned"], [reverse(rome)])
    assert torch.allclose(turned, direct, atol=1e-5) and not torch.allclose(asked, turned)
    # The pair turned round, under its reversed key: answered from rome's reading, nothing read or kept anew.
    views = InstanceViewCache(untrained_model, max_entries=2)
    (asked, _), (turned, _) = views.both_ways(["rome"], [rome])
    (asked_back, _), (turned_back, _) = views.both_ways([reversed_key("rome")], [reverse(rome)])
    assert torch.equal(asked_back, turned) and torch.equal(turned_back, asked) and list(views._views) == ["rome"]


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory) -> RelationModel:
    """A small random MPNet with the packaged tokenizer: an encoder whose layers take a relative position bias
    (all-mpnet-base-v2 is one), which the packaged BERT-style MiniLM does not."""
    from transformers import MPNetConfig, MPNetModel

    folder = tmp_path_factory.mktemp("tiny-mpnet")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (packaged_encoder_path() / name).exists():
            shutil.copy(packaged_encoder_path() / name, folder / name)
    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                         intermediate_size=128, pad_token_id=0)
    MPNetModel(config).save_pretrained(folder)
    return RelationModel.load(None, encoder_dir=folder, device="cpu")


@pytest.mark.parametrize("encoder", ["untrained_model", "tiny_mpnet"])
def test_reading_from_cached_lower_layers_equals_reading_from_tokens(encoder, request):
    """Training runs only the top layers over cached states; it must be the very pass inference runs."""
    model = request.getfixturevalue(encoder)
    doc = Document("Bob met Alice in Paris. Alice was born in Warsaw, Poland.",
                   [DocumentEntity(((0, 3),)), DocumentEntity(((8, 13), (24, 29))), DocumentEntity(((17, 22),)),
                    DocumentEntity(((42, 48),))])
    pairs = [(0, 1), (1, 2), (1, 3)]
    marked = mark_document(doc)
    windows = model.encoder.tokenize_documents([marked.text])
    [full] = model.read_pairs([doc], [pairs])
    with torch.inference_mode():
        for layer in (0, 3, len(model.encoder.layers)):
            cached = DocumentWindows(windows.input_ids, windows.attention_mask, windows.placement, windows.offsets,
                                     hidden=model.encoder.window_states_at(windows, layer), start_layer=layer)
            [states] = model.encoder.document_states(cached)
            part = model(states.float(), windows.offsets[0], marked, doc, pairs, None)
            assert torch.allclose(part.example, full.example, atol=1e-5)
            assert torch.allclose(part.reversed_side, full.reversed_side, atol=1e-5)
    # An instance is a document of two entities: embed_instances reads it the same way.
    x = make_instance("Bob met Alice in Paris.", Mention(0, 3), Mention(8, 13))
    (example, side), (back_example, _) = model.embed_both_ways([x])
    [one] = model.read_pairs([Document(x.text, [DocumentEntity(((0, 3),)), DocumentEntity(((8, 13),))])], [[(0, 1)]])
    assert torch.allclose(example, one.example, atol=1e-5) and torch.allclose(back_example, one.reversed_example,
                                                                                 atol=1e-5)


def test_a_long_document_is_read_in_overlapping_windows(untrained_model):
    text = " ".join(f"Sentence {i} says little about Bob and Alice." for i in range(80))
    bob = [(m.start(), m.end()) for m in re.finditer("Bob", text)]
    alice = [(m.start(), m.end()) for m in re.finditer("Alice", text)]
    doc = Document(text, [DocumentEntity(tuple(bob)), DocumentEntity(tuple(alice))])
    windows = untrained_model.encoder.tokenize_documents([mark_document(doc).text])
    assert len(windows.placement) > 2 and windows.input_ids.shape[1] <= untrained_model.encoder.max_length
    [states] = untrained_model.encoder.document_states(windows)
    assert states.shape[0] == len(windows.offsets[0])  # every token once, the overlaps averaged
    [views] = untrained_model.read_pairs([doc], [[(0, 1)]])
    assert views.example.shape[0] == 1 and torch.isfinite(views.example).all()


def test_a_relations_description_is_the_text_the_reader_was_trained_on(model):
    """Observed or declared domain and range weigh in as graph evidence, never as words of the description: the
    reader learns label and description alone, and classes added to that text moved it (a graph holding facts
    halved recall on documents)."""
    bare = RelationInfo("urn:r", "place of birth", ["birthplace"], "most specific known birth location of a person")
    typed = RelationInfo("urn:r", "place of birth", ["birthplace"], "most specific known birth location of a person",
                         domain=["person"], range=["city", "human settlement"])
    protos = PrototypeCache(model).build([bare, typed])
    assert protos.texts[0] == protos.texts[1] == ("place of birth (birthplace). "
                                                  "most specific known birth location of a person")
    assert torch.equal(protos.description[0], protos.description[1])


def test_a_model_on_an_encoder_named_by_a_relative_path_loads_from_where_it_is_saved(tiny_mpnet, tmp_path,
                                                                                    monkeypatch):
    """`kgrel train --encoder some/folder` names the encoder relative to the working directory; the model folder
    must still find it when loaded from another working directory."""
    encoder = Path(tiny_mpnet.config.encoder)
    monkeypatch.chdir(encoder.parent)
    model = RelationModel.load(None, encoder_dir=encoder.name, device="cpu")
    model.save(tmp_path / "models" / "m", [], {})
    monkeypatch.chdir(tmp_path)
    loaded = RelationModel.load(tmp_path / "models" / "m", device="cpu")
    assert loaded.encoder.model_dir.resolve() == encoder.resolve()
    # Saved again somewhere else (adapting writes a new folder from a loaded model), it still finds it.
    loaded.save(tmp_path / "deeper" / "still" / "m2", [], {})
    again = RelationModel.load(tmp_path / "deeper" / "still" / "m2", device="cpu")
    assert again.encoder.model_dir.resolve() == encoder.resolve()
