"""Cohen's kappa against values worked by hand."""

from kgrel.models.relation.agreement import cohens_kappa


def test_kappa_by_hand():
    # 10 items: both say yes 4 times, both no 3 times, A yes/B no 2, A no/B yes 1.
    pairs = [("y", "y")] * 4 + [("n", "n")] * 3 + [("y", "n")] * 2 + [("n", "y")]
    # observed 0.7; A: 6 y, 4 n; B: 5 y, 5 n; chance = (6*5 + 4*5) / 100 = 0.5; kappa = 0.2 / 0.5 = 0.4
    assert cohens_kappa(pairs) == 0.4
    assert cohens_kappa([("a", "a"), ("b", "b")]) == 1.0
    assert cohens_kappa([("a", "b"), ("b", "a")]) == -1.0
    assert cohens_kappa([("a", "a")] * 3) == 1.0 and cohens_kappa([]) is None
