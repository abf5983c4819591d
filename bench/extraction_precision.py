"""Extraction as a curator meets it (GUIDE section 3): right relation, reversed false facts,
none-of-the-above recall and fact precision at K = 0, 1, 5, plus a precision/recall curve.

    python bench/extraction_precision.py --data FEWREL.json [--relations P1,P2,...] [--model DIR]
        [--side-info pid2name.json] [--per-relation 50] [--shots 0,1,5] [--seed 0] [--png out.png]
        [--verifier DIR|none] [--mixed]

Every relation is registered with its label and description (side information only) and K of its
sentences as examples. Each query sentence (never an example) is asked three ways, the way the
service asks it (both orders scored, one direction per fact, calibrated none-of-the-above):

- (head, tail) among all relations: right when the answer is the fact (head, gold, tail);
- (tail, head) among all relations: a false fact when the answer is (tail, gold, head), i.e. the
  gold relation the wrong way round (every FewRel relation is asymmetric);
- (head, tail) with the gold relation removed from the candidates: right when the answer is none
  of the above.

With --names-from-other, each query's two names are replaced by those of a query of another relation
("Mozart" and "Salzburg" in "X was born in Y" from a composer sentence): the words still say the gold
relation, the names argue for the donor's. `names_followed` is the share of (head, tail) asks answered with
the donor's relation (either direction): facts from who the entities are, not from what the text says.

With --mixed, the relations also take the --shots values in turn in one graph (as a user's graph mixes
relations with and without examples), reported whole and by the gold relation's K.

Fact precision counts every fact the three asks return (the top answer unless it is none of the
above): correct facts / facts returned. Use relations the model never trained on. Prints one JSON
object last.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgrel.models.relation.direction import best_facts  # noqa: E402
from kgrel.models.relation.example_threshold import example_threshold  # noqa: E402
from kgrel.models.relation.fewrel import load_fewrel, load_side_info  # noqa: E402
from kgrel.models.relation.instances import RelationInstance, reverse, swap_mentions  # noqa: E402
from kgrel.models.relation.model import RelationModel  # noqa: E402
from kgrel.models.relation.prototypes import (  # noqa: E402
    InstanceViewCache,
    PrototypeCache,
    PrototypicalClassifier,
    embed_both_ways,
    none_of_the_above,
)
from kgrel.models.relation.verifier import VerifiedScores, checked_by_examples  # noqa: E402

CURVE = [round(0.05 * i, 2) for i in range(20)]


def parse_range(text: str) -> tuple[int, int | None]:
    """'1-4' -> (1, 4); '1-' -> (1, None)."""
    low, _, high = text.partition("-")
    try:
        return int(low), int(high) if high else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN-MAX or MIN-") from None


def range_or_none(text: str) -> tuple[int, int | None] | str:
    """'none', kept as the word so that it can be told from an option not given, or `parse_range`'s."""
    return text if text == "none" else parse_range(text)


def ask(classifier: PrototypicalClassifier, protos, queries: dict, gold: torch.Tensor,
        one_way: bool = False, rule: str = "exclusive",
        verified: Callable | None = None) -> dict[str, torch.Tensor]:
    """The three asks for every query: the best fact's score, whether it is correct, and its relation.

    `one_way` asks each pair only as given, without the reversed reading (kgrel before direction);
    `rule` is how the two readings of a pair combine (`direction.orient`); `verified(pairs, protos)` is the fact
    verifier's rescore for those pairs (`queries["instances"]` are the pairs as asked)."""
    forward, backward = queries["forward"], queries["backward"]
    if one_way:
        def oriented(f, b, p, idx=None, pairs=None):
            probs = classifier.probabilities(*f, p, idx)
            return probs, torch.zeros_like(probs)
    else:
        def oriented(f, b, p, idx=None, pairs=None):
            second = None if verified is None else verified(pairs, p)
            return classifier.oriented(f, b, p, idx, rule=rule, rescore=second)
    instances = queries.get("instances")
    out = {}
    score, rel, rev = best_facts(*oriented(forward, backward, protos, pairs=instances))
    out["asked"] = (score, (rel == gold) & ~rev, rel)
    score, rel, rev = best_facts(*oriented(backward, forward, protos,
                                           pairs=instances and [reverse(x) for x in instances]))
    # Asked (tail, head): the correct fact is the gold relation stated reversed; gold unreversed is false.
    out["flipped"] = (score, (rel == gold) & rev, rel)
    out["flipped_false"] = (score, (rel == gold) & ~rev, rel)
    scores = torch.zeros(len(gold))
    relations = torch.zeros(len(gold), dtype=torch.long)
    for g in gold.unique().tolist():
        rows = (gold == g).nonzero().flatten()
        idx = torch.tensor([i for i in range(len(protos)) if i != g])
        s, r, _ = best_facts(*oriented((forward[0][rows], forward[1][rows]), (backward[0][rows], backward[1][rows]),
                                      protos, idx, pairs=instances and [instances[i] for i in rows.tolist()]))
        scores[rows], relations[rows] = s, idx[r]
    out["gold_removed"] = (scores, torch.zeros(len(gold), dtype=torch.bool), relations)
    return out


def impostor_thresholds(classifier: PrototypicalClassifier, views: InstanceViewCache, protos, examples: dict,
                        quantile: float, floor: float, verified: Callable | None = None) -> torch.Tensor:
    """A threshold per relation from the K-shot examples: for relation s, the `quantile` of s's fact scores on
    the examples of every other relation (its inverse left out), never below `floor`; scored as the queries
    are, with the verifier's rescore `verified(pairs, protos)` if any. A relation that other relations'
    examples read as strongly gets a higher bar (the issue's "per-relation thresholds once a relation has
    examples"); measured here, not served."""
    impostors: list[list[float]] = [[] for _ in range(len(protos))]
    for iri, items in examples.items():
        r = protos.index(iri)
        if r is None or not items:
            continue
        pairs = [inst for _, inst in items]
        forward, backward = views.both_ways([eid for eid, _ in items], pairs)
        fwd, bwd = classifier.oriented(forward, backward, protos,
                                       rescore=None if verified is None else verified(pairs, protos))
        facts = torch.maximum(fwd, bwd)  # one of the two is zero: the fact's score in either direction
        for s in range(len(protos)):
            if s not in (r, int(protos.algebra.inverse[r])):
                impostors[s] += facts[:, s].tolist()
    return torch.tensor([max(floor, float(torch.tensor(v).quantile(quantile))) if v else floor for v in impostors])


def relative_to(out: dict, thresholds: torch.Tensor, threshold: float) -> dict:
    """The asks with each fact's score moved by how far its relation's threshold is from `threshold`, so that
    `threshold` (and the curve over it) applies per relation."""
    return {name: (score - thresholds[rel] + threshold, correct, rel) for name, (score, correct, rel) in out.items()}


def rates(out: dict, threshold: float) -> dict:
    """The four figures of the table at one threshold."""
    kept = {name: ~none_of_the_above(score, threshold) for name, (score, *_) in out.items()}
    correct = sum(int((kept[n] & out[n][1]).sum()) for n in ("asked", "flipped"))
    returned = sum(int(kept[n].sum()) for n in ("asked", "flipped", "gold_removed"))
    n = len(out["asked"][0])
    return {"right_relation": round(float((kept["asked"] & out["asked"][1]).float().mean()), 4),
            "reversed_false_fact_rate": round(float((kept["flipped_false"] & out["flipped_false"][1])
                                                    .float().mean()), 4),
            "nota_recall": round(float((~kept["gold_removed"]).float().mean()), 4),
            "fact_precision": round(correct / returned, 4) if returned else None,
            "fact_recall": round(correct / (2 * n), 4), "facts_returned": returned}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--relations", help="comma-separated relation ids to keep (default: all)")
    parser.add_argument("--side-info", default=str(ROOT.parent / "shared/data/fewrel/pid2name.json"))
    parser.add_argument("--model", help="relation model folder (default: the shipped one); 'untrained' for none")
    parser.add_argument("--per-relation", type=int, default=50, help="query sentences per relation")
    parser.add_argument("--shots", default="0,1,5")
    parser.add_argument("--threshold", type=float,
                        help="none-of-the-above threshold (default: the service's, see --examples-nota-recall)")
    parser.add_argument("--examples", type=int,
                        help="labelled sentences set aside per relation, never asked (default: the largest K); "
                             "the K-shot examples are the first K of them")
    parser.add_argument("--calibrate-on-examples", action="store_true",
                        help="refit the calibration on those examples first (the user's domain) instead of "
                             "the model's own")
    parser.add_argument("--examples-nota-recall", type=float, default=0.9,
                        help="raise the threshold as the service does (KGREL_EXAMPLES_NOTA_RECALL): until this share "
                             "of the K-shot examples, asked among the other relations, is none of the above; "
                             "0 keeps the model's threshold")
    parser.add_argument("--relation-thresholds", type=float, metavar="Q",
                        help="a threshold per relation at K >= 1: the Q quantile of its scores on the other "
                             "relations' examples, never below the serving threshold (not what the service does)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1,
                        help="run seeds SEED .. SEED+N-1 (other examples and queries each) and add their mean")
    parser.add_argument("--png", type=Path, help="write the precision/recall curves here")
    parser.add_argument("--one-way", action="store_true",
                        help="ask each pair only as given (no reversed reading): kgrel's behaviour before direction "
                             "(and so without the verifier)")
    parser.add_argument("--direction-rule", choices=("max", "exclusive"), default="exclusive",
                        help="how the two readings of a pair combine (direction.orient): the winning reading's "
                             "score discounted by the losing reading's, as the service does (exclusive), or its "
                             "own score (max)")
    parser.add_argument("--verifier",
                        help="the fact verifier pooled with the scores (bench/train_verifier.py), or 'none' "
                             "(default: the service's, KGREL_VERIFIER or the shipped one)")
    parser.add_argument("--verifier-worth", type=float,
                        help="the verifier's weight, counted in examples against side information and K "
                             "(default: its verifier.json's)")
    parser.add_argument("--names-from-other", action="store_true",
                        help="ask every query with its names taken from a query of another relation, and report "
                             "names_followed: how often the answer is the donor's relation")
    parser.add_argument("--mixed", action="store_true",
                        help="also ask with the relations' K mixed, as in a real graph: the relations take the "
                             "--shots values in turn (a seeded order), reported overall and by the gold relation's K")
    parser.add_argument("--verifier-examples", type=parse_range,
                        help="MIN-MAX (MIN- for no upper bound): the K of the relations the verifier is asked for "
                             "(default: its verifier.json's)")
    parser.add_argument("--verifier-veto", type=range_or_none,
                        help="MIN-MAX, MIN- or none: the K of the relations whose scores the verifier may only lower, "
                             "whether or not the examples set the threshold (default: its verifier.json's)")
    parser.add_argument("--verifier-veto-top", type=int,
                        help="how many of each pair's best facts a veto reads (default: its verifier.json's, else 3)")
    args = parser.parse_args()

    from kgrel.app.config import Settings

    model_dir = None if args.model == "untrained" else (args.model or Settings().model_location())
    model = RelationModel.load(model_dir, device="cpu")
    # One way is kgrel before direction, and so before the verifier, whose rescore reads both readings.
    verifier_dir = None if args.one_way else Settings(verifier=args.verifier).verifier_location()
    verified = None
    if verifier_dir is not None:
        verified = VerifiedScores.load(verifier_dir)
        given = {name: value for name, value in (("worth", args.verifier_worth), ("examples", args.verifier_examples),
                                                 ("veto", args.verifier_veto), ("veto_top", args.verifier_veto_top))
                 if value is not None}
        if given.get("veto") == "none":
            given["veto"] = None
        verified.serving = replace(verified.serving, **given)
    data: dict[str, list[RelationInstance]] = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items)
    if args.relations:
        data = {r: data[r] for r in (x.strip() for x in args.relations.split(","))}
    side_info = load_side_info(args.side_info)
    relations = [side_info[r] for r in sorted(data)]
    shots = [int(k) for k in args.shots.split(",")]
    set_aside = max(shots) if args.examples is None else args.examples
    if set_aside < max(shots):
        parser.error(f"--examples {set_aside} is fewer than the largest K ({max(shots)})")
    runs = run_seeds(model, data, relations, side_info, shots, set_aside, range(args.seed, args.seed + args.seeds),
                     args.per_relation, threshold=args.threshold, examples_nota_recall=args.examples_nota_recall,
                     calibrate_on_examples=args.calibrate_on_examples, one_way=args.one_way,
                     rule=args.direction_rule, relation_quantile=args.relation_thresholds, mixed=args.mixed,
                     verified=verified, names_from_other=args.names_from_other)
    if args.png:
        plot(runs[0]["curves"], args.png)
    out = {"model": str(model_dir or "untrained"), "data": args.data, "one_way": args.one_way,
           "direction_rule": args.direction_rule, "relation_thresholds": args.relation_thresholds,
           "names_from_other": args.names_from_other,
           "verifier": verifier_dir, "verifier_serving": verified and asdict(verified.serving),
           "examples": set_aside, "relations": sorted(data),
           "examples_nota_recall": args.examples_nota_recall, "seed": args.seed, **runs[0]}
    if args.seeds > 1:  # the mean over seeds (each draws other examples and queries), and its spread
        out["seeds"] = list(range(args.seed, args.seed + args.seeds))
        out["mean_results"] = mean_results(runs)
        out["seed_results"] = [r["results"] for r in runs]
    print(json.dumps(out))


def run_seed(model: RelationModel, data: dict, relations: list, side_info: dict, shots: list[int],
             set_aside: int, seed: int, per_relation: int, *, threshold: float | None = None,
             examples_nota_recall: float = 0.9, calibrate_on_examples: bool = False, one_way: bool = False,
             rule: str = "exclusive", relation_quantile: float | None = None,
             verified: VerifiedScores | None = None, mixed: bool = False, names_from_other: bool = False) -> dict:
    """The three asks at each K for one draw of examples and queries (the options are main's flags)."""
    rng = random.Random(seed)
    supports, queries, gold = {}, [], []
    for g, r in enumerate(sorted(data)):
        items = list(data[r])
        rng.shuffle(items)
        supports[r] = items[:set_aside]
        picked = items[set_aside:set_aside + per_relation]
        queries += picked
        gold += [g] * len(picked)
    gold_t = torch.tensor(gold)
    donor_gold = None
    if names_from_other:  # the context keeps the gold relation; the names come from another relation's query
        donors = [rng.choice([j for j, g in enumerate(gold) if g != gold[i]]) for i in range(len(queries))]
        queries = [swap_mentions(q, queries[j]) for q, j in zip(queries, donors, strict=True)]
        donor_gold = gold_t[torch.tensor(donors)]
    calibration = None
    if calibrate_on_examples:
        calibration = calibrate_to_examples(model, supports, side_info, seed)
    with torch.inference_mode():
        forward, backward = embed_both_ways(model, queries)
        views = {"forward": forward, "backward": backward, "instances": queries}
        second = None if verified is None else partial(verified.for_pairs, side_weight=model.config.side_weight)
        classifier = PrototypicalClassifier(model)
        example_views = InstanceViewCache(model)
        cache = PrototypeCache(model, example_views)
        results, curves, thresholds = {}, {}, {}

        def as_served(examples: dict):
            """The prototypes, the threshold and the verifier's rescore, as the service decides them: the
            model's threshold raised to what the examples show, and the verifier pooled only where they do
            (`verifier.checked_by_examples`), else only its vetoes (`Serving.veto`)."""
            protos = cache.build(relations, examples)
            found = example_threshold(classifier, example_views, protos, examples,  # FewRel ids are the IRIs
                                      examples_nota_recall or None,
                                      None if second is None else partial(second, protos=protos))
            pooled, mode = None, None
            if second is not None and checked_by_examples(found):
                pooled, mode = second, "pooled"
            elif second is not None and verified.serving.veto is not None:  # verdicts that only lower
                pooled, mode = partial(second, pooled=False), "veto"
            return protos, found, (found.serving if threshold is None else threshold), pooled, mode

        def given(k_of: dict[str, int]) -> dict:
            """Each relation's first k_of[r] set-aside sentences, as its examples."""
            return {r: [(f"{r}-{i}", x) for i, x in enumerate(supports[r][:k_of[r]])] for r in data}

        def record(name: str, out: dict, serving: float) -> None:
            results[name] = {"threshold": serving, **rates(out, serving)}
            if donor_gold is not None:
                score, _, rel = out["asked"]
                followed = ~none_of_the_above(score, serving) & (rel == donor_gold)
                results[name]["names_followed"] = round(float(followed.float().mean()), 4)
            curves[name] = [{"threshold": t, **rates(out, t)} for t in CURVE]
            print(json.dumps({"seed": seed, name: results[name]}), file=sys.stderr)

        for k in shots:
            examples = given(dict.fromkeys(data, k))
            protos, found, serving, pooled, mode = as_served(examples)
            thresholds[f"K={k}"] = {"model": found.model, "from_examples": found.from_examples,
                                    "serving": serving, "verifier": mode}
            out = ask(classifier, protos, views, gold_t, one_way=one_way, rule=rule, verified=pooled)
            if relation_quantile is not None and k > 0:
                per_relation = impostor_thresholds(classifier, example_views, protos, examples, relation_quantile,
                                                   serving, pooled)
                thresholds[f"K={k}"]["per_relation"] = [round(float(t), 4) for t in per_relation]
                out = relative_to(out, per_relation, serving)
            record(f"K={k}", out, serving)
        if mixed:  # each relation its own K, as a graph where some relations have examples and others not
            order = sorted(data)
            random.Random(seed).shuffle(order)
            k_of = {r: shots[i % len(shots)] for i, r in enumerate(order)}
            protos, _, serving, pooled, mode = as_served(given(k_of))
            out = ask(classifier, protos, views, gold_t, one_way=one_way, rule=rule, verified=pooled)
            thresholds["mixed"] = {"serving": serving, "verifier": mode, "k": k_of}
            record("mixed", out, serving)
            gold_k = torch.tensor([k_of[r] for r in sorted(data)])[gold_t]
            for k in shots:
                rows = gold_k == k
                results[f"mixed, gold K={k}"] = {"threshold": serving,
                                                 **rates({n: tuple(t[rows] for t in v) for n, v in out.items()},
                                                         serving)}
    return {"calibration": calibration, "queries": len(queries), "thresholds": thresholds, "results": results,
            "curves": curves}


def run_seeds(model: RelationModel, data: dict, relations: list, side_info: dict, shots: list[int], set_aside: int,
              seeds: Iterable[int], per_relation: int, **options) -> list[dict]:
    """`run_seed` for each seed, each from the model's own calibration (`calibrate_on_examples` refits it)."""
    calibration = model.calibration
    runs = []
    for seed in seeds:
        model.calibration = calibration
        runs.append(run_seed(model, data, relations, side_info, shots, set_aside, seed, per_relation, **options))
    model.calibration = calibration
    return runs


def mean_results(runs: list[dict]) -> dict:
    """Each K's figures, the mean over the runs of `run_seeds`."""
    return {k: mean_rates([r["results"][k] for r in runs]) for k in runs[0]["results"]}


def mean_rates(runs: list[dict]) -> dict:
    """Each figure's mean over the runs, with its standard deviation (keys ending "_sd")."""
    out = {}
    for name in runs[0]:
        values = [r[name] for r in runs if r[name] is not None]
        if not values:
            continue
        mean = sum(values) / len(values)
        out[name] = round(mean, 4)
        out[f"{name}_sd"] = round((sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5, 4)
    return out


def calibrate_to_examples(model: RelationModel, examples: dict, side_info: dict, seed: int) -> dict:
    """Refit the model's calibration on the labelled examples (what `kgrel adapt --calibrate-only` does)."""
    from kgrel.models.relation.calibration_fitting import fit_to_examples

    calibration, report = fit_to_examples(model, examples, side_info, seed=seed)
    model.calibration = calibration
    print(json.dumps({"calibration": calibration.to_json(), "nota": report}), file=sys.stderr)
    return {"params": calibration.to_json(), "report": report}


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, points in curves.items():
        pts = [p for p in points if p["fact_precision"] is not None]
        ax.plot([p["fact_recall"] for p in pts], [p["fact_precision"] for p in pts], marker=".", label=name)
    ax.set_xlabel("fact recall (correct facts / true facts)")
    ax.set_ylabel("fact precision (correct / returned)")
    ax.set_title("threshold 0 to 0.95")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
