"""How far two annotators agree beyond chance: Cohen's kappa (Cohen, 1960)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def cohens_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Kappa of (label by annotator A, label by annotator B) over the same items: 1 for full agreement,
    0 for what chance alone would give, negative below it. None with no items; 1.0 when both gave one
    and the same label throughout (chance agreement is then 1, and so is observed agreement)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[label] * second[label] for label in first) / (n * n)
    if chance == 1.0:
        return 1.0
    return round((observed - chance) / (1 - chance), 4)
