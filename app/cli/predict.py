"""`kgrel predict`: classify relations, JSON in (a file or stdin), JSON out; in-process or against a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from pydantic import TypeAdapter, ValidationError

from kgrel.app.cli.common import add_common, auth_headers, fail, settings_from
from kgrel.app.schemas.predict import PredictIn
from kgrel.kg.errors import KGError
from kgrel.models.relation.instances import InvalidInstance


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify relations: JSON in (file or stdin), JSON out")
    p.add_argument("input", nargs="?", help="JSON file with one item or a list (default: stdin)")
    p.add_argument("--url", help="ask a running kgrel server instead of loading the model here")
    p.add_argument("--api-key")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    raw = sys.stdin.read() if args.input in (None, "-") else Path(args.input).read_text(encoding="utf-8")
    try:
        payload = json.loads(raw)
        items = TypeAdapter(PredictIn | list[PredictIn]).validate_python(payload)
    except (json.JSONDecodeError, ValidationError) as e:
        return fail(f"invalid predict input: {e}")
    if args.url:
        response = httpx.post(args.url.rstrip("/") + "/predict", json=payload, headers=auth_headers(args), timeout=None)
        print(response.text)
        return 0 if response.is_success else 1
    # Imported here, not above: it loads torch and the model, which `--url` does without.
    from kgrel.app.services import KgrelService, PredictRequest

    batch = items if isinstance(items, list) else [items]
    try:
        service = KgrelService(settings_from(args))
    except KGError as e:
        return fail(str(e))
    try:
        requests = [PredictRequest(x.to_instance(service.graph.iri), x.candidates, x.top_k, x.threshold)
                    for x in batch]
        results = service.predict(requests)
    except (InvalidInstance, KGError) as e:
        return fail(str(e))
    finally:
        service.close()
    out = [{"predictions": [{"relation": p.relation, "curie": service.graph.curie(p.relation), "label": p.label,
                             "score": p.score, "reversed": p.reversed}
                            for p in r.predictions], "none_of_the_above": r.none_of_the_above}
           for r in results]
    print(json.dumps(out if isinstance(items, list) else out[0], ensure_ascii=False))
    return 0
