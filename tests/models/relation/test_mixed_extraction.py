"""bench/extraction_precision.py --mixed: relations with different K in one graph, with the shipped model
and verifier on the biomedical fixture; the verifier is pooled only where the examples set the threshold,
else only its vetoes count."""

from pathlib import Path

import pytest

from bench.extraction_precision import run_seed
from kgrel.app.config import Settings
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.verifier import VerifiedScores

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def fixture():
    data = load_fewrel(DATA / "tiny_biomed.json")
    info = load_side_info(DATA / "tiny_biomed_side_info.json")
    return data, info, [info[r] for r in sorted(data)], VerifiedScores.load(Settings().verifier_location())


@pytest.mark.parametrize("shots, mode", [([0, 2], "pooled"), ([0, 1], "veto")])
def test_mixed_k_is_reported_whole_and_by_the_gold_relations_k(model, fixture, shots, mode):
    data, info, relations, verified = fixture
    run = run_seed(model, data, relations, info, shots, max(shots), seed=0, per_relation=3, verified=verified,
                   mixed=True)
    k_of = run["thresholds"]["mixed"]["k"]
    assert sorted(k_of.values()) == sorted(shots * 4)  # 8 relations take the K values in turn
    # 4 relations x 2 examples set the threshold (8 of 3 relations needed); 4 x 1 do not, and then the
    # verifier is not pooled: only its vetoes (of the relations with no examples) count.
    assert run["thresholds"]["mixed"]["verifier"] == mode
    whole = run["results"]["mixed"]
    groups = [run["results"][f"mixed, gold K={k}"] for k in shots]
    assert sum(g["facts_returned"] for g in groups) == whole["facts_returned"]
    assert sum(g["right_relation"] for g in groups) / 2 == pytest.approx(whole["right_relation"], abs=1e-3)
