"""Scoring what the service returns against annotation: the figures a curator meets.

`DocumentEvaluator` scores the facts read from whole documents; `AskEvaluator` the answers to single
sentences asked three ways (GUIDE section 3, "extraction as a user meets it"). Both take what the service
answered, so the benchmarks and the tests that call them measure exactly what is served.

Documents: a fact is (head entity, relation, tail entity) of one document. Pairs that hold withheld facts count neither
way. Recall is given over all facts and over the facts whose two entities share a sentence; precision is
right facts over facts returned; each is reported for every relation and, separately, for the relations the
model trained on and those it did not. The precision/recall curve sweeps the threshold over the scores the
facts were returned with, so one read at a low threshold gives every point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kgrel.models.relation.docred import LabelledDocument

Fact = tuple[int, str, int]  # (head entity, relation id, tail entity) within one document
CURVE = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass
class Counts:
    right: int = 0
    returned: int = 0
    gold: int = 0
    gold_in_sentence: int = 0
    right_in_sentence: int = 0

    def metrics(self) -> dict[str, float]:
        precision = self.right / self.returned if self.returned else 0.0
        recall = self.right / self.gold if self.gold else 0.0
        recall_in = self.right_in_sentence / self.gold_in_sentence if self.gold_in_sentence else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4),
                "recall_in_sentence": round(recall_in, 4), "f1": round(f1(precision, recall), 4),
                "f1_in_sentence": round(f1(precision, recall_in), 4), "returned": self.returned, "right": self.right,
                "gold": self.gold, "gold_in_sentence": self.gold_in_sentence}


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


class DocumentEvaluator:
    """Scores each document's returned facts (with their scores) against its annotation.

    `relations` are those registered (facts of others are not counted as missed); `trained` those the model
    learned from: the figures are also given for the trained and the other relations apart."""

    def __init__(self, documents: Sequence[LabelledDocument], relations: Iterable[str],
                 trained: Iterable[str] = ()):
        self.documents = list(documents)
        self.relations = set(relations)
        self.trained = set(trained)

    def group(self, relation: str) -> str:
        return "trained" if relation in self.trained else "held_out"

    def counts(self, returned: Sequence[dict[Fact, float]], threshold: float) -> dict[str, Counts]:
        """Counts per group ("all", "trained", "held_out") of the facts scoring at least `threshold`."""
        out = {"all": Counts(), "trained": Counts(), "held_out": Counts()}
        for doc, facts in zip(self.documents, returned, strict=True):
            sentences = doc.document.entity_sentences()
            gold = {f for f in doc.facts if f[1] in self.relations and (f[0], f[2]) not in doc.withheld}
            for fact in gold:
                inside = bool(sentences[fact[0]] & sentences[fact[2]])
                for name in ("all", self.group(fact[1])):
                    out[name].gold += 1
                    out[name].gold_in_sentence += inside
            for fact, score in facts.items():
                if score < threshold or (fact[0], fact[2]) in doc.withheld:
                    continue
                right = fact in gold
                inside = right and bool(sentences[fact[0]] & sentences[fact[2]])
                for name in ("all", self.group(fact[1])):
                    out[name].returned += 1
                    out[name].right += right
                    out[name].right_in_sentence += inside
        return out

    def __call__(self, returned: Sequence[dict[Fact, float]], threshold: float) -> dict:
        """Metrics at `threshold`, the best F1 over the curve, and the curve, per group."""
        at = {name: c.metrics() for name, c in self.counts(returned, threshold).items()}
        curve = {name: [] for name in at}
        for t in CURVE:
            for name, c in self.counts(returned, t).items():
                m = c.metrics()
                curve[name].append({"threshold": t, "precision": m["precision"], "recall": m["recall"],
                                    "recall_in_sentence": m["recall_in_sentence"], "f1": m["f1"]})
        for name, points in curve.items():
            best = max(points, key=lambda p: p["f1"])
            at[name]["best_f1"] = best["f1"]
            at[name]["best_threshold"] = best["threshold"]
        return {"threshold": threshold, "groups": at, "curve": curve}


@dataclass
class Answer:
    """The service's answer to one ask: its best fact (None: none of the above) with the fact's score."""

    relation: str | None
    reversed: bool = False  # the fact reads (tail, relation, head) of the pair as asked
    score: float = 0.0


class AskEvaluator:
    """Sentences stating one known relation each, asked three ways: (head, tail) among every relation (right
    when the answer is (head, gold, tail)); (tail, head) among every relation (a false fact when the answer is
    the gold relation the wrong way round); (head, tail) with the gold relation left out (right when the
    answer is none of the above). Fact precision counts every fact the three asks return."""

    def __init__(self, gold: Sequence[str]):
        self.gold = list(gold)

    def rates(self, asked: Sequence[Answer], turned: Sequence[Answer], without: Sequence[Answer],
              threshold: float) -> dict[str, float]:
        def fact(a: Answer) -> Answer | None:
            return a if a.relation is not None and a.score >= threshold else None

        right = reversed_false = nota = correct = returned = 0
        for g, a, t, w in zip(self.gold, asked, turned, without, strict=True):
            a, t, w = fact(a), fact(t), fact(w)
            right += a is not None and a.relation == g and not a.reversed
            reversed_false += t is not None and t.relation == g and not t.reversed
            nota += w is None
            for answer, true_if_reversed in ((a, False), (t, True), (w, None)):
                if answer is not None:
                    returned += 1
                    correct += answer.relation == g and answer.reversed == true_if_reversed
        n = max(1, len(self.gold))
        return {"right": round(right / n, 4), "reversed_false_facts": round(reversed_false / n, 4),
                "nota_recall": round(nota / n, 4),
                "fact_precision": round(correct / returned, 4) if returned else None}

    def __call__(self, asked: Sequence[Answer], turned: Sequence[Answer], without: Sequence[Answer],
                 threshold: float) -> dict:
        return {"threshold": threshold, **self.rates(asked, turned, without, threshold),
                "curve": [{"threshold": t, **self.rates(asked, turned, without, t)} for t in CURVE]}
