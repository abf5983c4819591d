"""Fitting the calibration on episodes of held-out relations (the value itself is `calibration.Calibration`)."""

from __future__ import annotations

import torch

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.calibration import MAX_K, Calibration, fit_platt
from kgrel.models.relation.episodes import EpisodeEncoder, sample_episodes
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import PrototypicalClassifier, none_of_the_above


def fit_calibration(model: RelationModel, data: dict[str, list[RelationInstance]],
                    side_info: dict[str, RelationInfo] | None, *, n_way: int = 10, episodes: int = 300,
                    seed: int = 0, max_k: int = MAX_K, compare: bool = False) -> tuple[Calibration, dict]:
    """Fit one sigmoid per K on N-way episodes; returns the calibration and a none-of-the-above report.

    The sigmoid is fitted to whether the *top* answer is right, over queries whose relation is among
    the candidates and queries whose relation is not (weighted half and half), so a score of 0.8
    means "right four times in five" and the threshold decides none-of-the-above. The report gives,
    at the model's threshold, how often a query whose relation is *absent* from the candidates is
    answered "none of the above", and how often one whose relation is present is answered with the
    right relation; with `compare`, also under the model's current calibration (keys ending "_before").
    """
    classifier = PrototypicalClassifier(model)
    calibration = Calibration()
    report = {}
    n_way = min(n_way, len(data) - 1)
    threshold = model.config.nota_threshold
    for k in range(max_k + 1):
        if sum(len(items) >= k + 1 for items in data.values()) < n_way + 1:
            break  # too few sentences per relation for this K; larger K fall back to the nearest fitted one
        # The last relation of each episode supplies a query whose relation is not among the candidates.
        eps = sample_episodes(data, n_way + 1, k, episodes, seed + k)
        encoded = EpisodeEncoder(model, data, eps, side_info, desc=f"calibration K={k}")
        present, absent = [], []
        for ep in eps:
            protos = encoded.prototypes(ep.relations[:n_way], ep.support[:n_way])
            s = classifier.similarity(*encoded.queries(ep.relations, ep.query), protos)
            present.append(s[:n_way])
            absent.append(s[n_way])
        present_t = torch.stack(present)  # (episodes, n_way queries, n_way relations), diagonal is right
        absent_t = torch.stack(absent)  # (episodes, n_way relations): the query of the (N+1)th relation
        absent_top = absent_t.max(-1).values
        top = present_t.max(-1).values.reshape(-1)
        correct = (present_t.argmax(-1) == torch.arange(n_way)).float().reshape(-1)
        weights = torch.cat([torch.full_like(top, 0.5 / len(top)),
                             torch.full_like(absent_top, 0.5 / len(absent_top))])
        a, b = fit_platt(torch.cat([top, absent_top]), torch.cat([correct, torch.zeros_like(absent_top)]), weights)
        calibration.params[k] = (a, b)
        report[k] = _decisions(present_t, absent_t, a, b, threshold)
        if compare:
            # The calibration it replaces, on the same episodes: what refitting changes.
            before = _decisions(present_t, absent_t, *model.calibration.parameters(k), threshold)
            report[k].update({f"{name}_before": value for name, value in before.items()})
    return calibration, report


def _decisions(present: torch.Tensor, absent: torch.Tensor, a: float, b: float, threshold: float) -> dict:
    """With p = sigmoid(a * s + b): the share of present queries answered right and kept, and of absent
    ones answered none of the above."""
    n_way = present.shape[-1]
    kept = ~none_of_the_above(torch.sigmoid(a * present + b).max(-1).values, threshold)
    right = (present.argmax(-1) == torch.arange(n_way)) & kept
    nota = none_of_the_above(torch.sigmoid(a * absent + b).max(-1).values, threshold)
    return {"present_right_and_kept": round(right.float().mean().item(), 3),
            "absent_answered_nota": round(nota.float().mean().item(), 3)}


class CannotCalibrate(ValueError):
    """Too few labelled examples to refit the calibration on them."""


def calibration_examples(examples: dict[str, list[RelationInstance]]) -> dict[str, list[RelationInstance]]:
    """The relations that have examples; CannotCalibrate when they are too few to refit on."""
    usable = {r: items for r, items in examples.items() if items}
    if len(usable) < 3:
        raise CannotCalibrate(f"refitting the calibration needs examples of at least 3 relations "
                              f"(2 candidates and 1 to stand for none of the above); the store has {len(usable)}")
    return usable


def fit_to_examples(model: RelationModel, examples: dict[str, list[RelationInstance]],
                    side_info: dict[str, RelationInfo] | None, *, episodes: int = 300,
                    seed: int = 0) -> tuple[Calibration, dict]:
    """The calibration refitted on a user's labelled examples, so that a score means "right this often"
    on *their* text: on text unlike the training text the shipped calibration accepts far too much
    (README, "Calibrated to your domain"). Episodes draw support and query from each relation's own
    examples, and the query of one more relation supplies "none of the above". Fits the K that the
    examples allow (K + 1 examples per relation); larger K use the largest fitted one.
    """
    usable = calibration_examples(examples)
    return fit_calibration(model, usable, side_info, n_way=min(10, len(usable) - 1), episodes=episodes, seed=seed,
                           compare=True)
