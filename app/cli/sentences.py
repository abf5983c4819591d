"""`kgrel eval sentences`: extraction as a curator meets it on single sentences (GUIDE section 3), as served.

Every relation of a FewRel-format file is registered with its label and description, K of its sentences
become examples, and each other sentence is asked through the service's prediction (what /predict runs)
three ways: as written, reversed, and with its relation left out of the candidates. The answers are scored
by `models.relation.extraction_evaluation.AskEvaluator`.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, settings_from

RELATION = "urn:kgrel:bench:relation:"


def register(ev) -> None:
    s = ev.add_parser("sentences", help="ask held-out sentences three ways as served and score the answers")
    s.add_argument("--data", required=True, help="FewRel-format file of relations the model never trained on")
    s.add_argument("--side-info", required=True, help="label and description of each relation (pid2name.json)")
    s.add_argument("--shots", default="0,1,5", help="examples per relation, comma-separated")
    s.add_argument("--per-relation", type=int, default=50, help="sentences asked per relation")
    s.add_argument("--seed", type=int, default=0, help="which sentences are examples and which are asked")
    s.add_argument("--threshold", type=float, help="score answers at this threshold (default: the service's)")
    add_common(s)
    s.set_defaults(func=run)


def evaluate(args, settings) -> dict:
    from kgrel.app.services import KgrelService, PredictRequest
    from kgrel.kg.relations import RelationSpec
    from kgrel.models.relation.docred import relation_infos
    from kgrel.models.relation.extraction_evaluation import Answer, AskEvaluator
    from kgrel.models.relation.fewrel import load_fewrel
    from kgrel.models.relation.instances import reverse

    data = load_fewrel(args.data)
    relations = sorted(data)
    side = relation_infos(args.side_info, relations)
    rng = random.Random(args.seed)
    shots = [int(x) for x in args.shots.split(",")]
    set_aside, pool, queries, gold = max(shots), {}, [], []
    for r in relations:
        items = list(data[r])
        rng.shuffle(items)
        pool[r] = items[:set_aside]
        picked = items[set_aside:set_aside + args.per_relation]
        queries += picked
        gold += [r] * len(picked)
    evaluator = AskEvaluator(gold)
    out = {"relations": len(relations), "queries": len(queries), "seed": args.seed,
           "model": settings.model_location(), "by_shots": {}}
    with tempfile.TemporaryDirectory(prefix="kgrel-sentences-") as tmp:
        service = KgrelService(settings.model_copy(update={"data_dir": Path(tmp)}))
        try:
            for r in relations:
                service.graph.register_relation(RelationSpec(RELATION + r, side[r].label,
                                                             description=side[r].description))
            every = [RELATION + r for r in relations]

            def answers(requests) -> list[Answer]:
                found = []
                for result in service.predictions.predict(requests):
                    best = result.predictions[0] if result.predictions else None
                    found.append(Answer(None) if best is None else
                                 Answer(best.relation.removeprefix(RELATION), best.reversed, best.score))
                return found

            for k in shots:
                replace_examples(service, {RELATION + r: pool[r][:k] for r in relations})
                threshold = service.predictions.threshold() if args.threshold is None else args.threshold
                asked = answers([PredictRequest(x, None, 1, 0.0) for x in queries])
                turned = answers([PredictRequest(reverse(x), None, 1, 0.0) for x in queries])
                without = answers([PredictRequest(x, [c for c in every if c != RELATION + g], 1, 0.0)
                                   for x, g in zip(queries, gold, strict=True)])
                result = evaluator(asked, turned, without, threshold)
                out["by_shots"][str(k)] = result
                print(json.dumps({"shots": k, **{n: v for n, v in result.items() if n != "curve"}}), file=sys.stderr)
        finally:
            service.close()
    return out


def replace_examples(service, examples: dict) -> None:
    """The store's examples become exactly `examples` (relation IRI -> instances), and the relations' state
    follows them before the next read: the classes of the entities they name join the observed domain/range,
    which the service otherwise refreshes in the background."""
    from kgrel.kg import examples as kg_examples

    for record in kg_examples.list_examples(service.graph.store):
        kg_examples.delete_example(service.graph.store, record.id)
    service.graph.changed()
    for iri, items in examples.items():
        if items:
            service.graph.add_examples(iri, items, source="urn:kgrel:bench")
    service.predictions.refresh()


def run(args) -> int:
    settings = settings_from(args)
    for path in (args.data, args.side_info):
        if not Path(path).exists():
            return fail(f"no file {path}")
    print(json.dumps(evaluate(args, settings)))
    return 0
