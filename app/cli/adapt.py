"""`kgrel adapt`: fine-tune the serving relation model on the store's examples; list or switch models."""

from __future__ import annotations

import json
import sys
import time

from kgrel.app.cli.common import add_common, fail, settings_from


def register(sub) -> None:
    p = sub.add_parser("adapt", help="adapt the relation model to the examples in the store (relation-disjoint "
                                     "validation; switched to only if it validates at least as well)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--train-layers", type=int, default=0, help="0: the heads only; more: also top encoder layers")
    p.add_argument("--validation-share", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="serve the adapted model even if it validates worse")
    p.add_argument("--calibrate-only", action="store_true",
                   help="train nothing: refit the calibration on the store's examples (seconds), so scores and "
                        "none-of-the-above fit the user's text, and serve that")
    p.add_argument("--list", action="store_true", help="list the base and adapted models, and which one serves")
    p.add_argument("--select", metavar="NAME", help="serve this model from now on ('base' switches back)")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from kgrel.app.services import KgrelService
    from kgrel.kg.errors import KGError
    from kgrel.models.relation.adaptation import AdaptConfig, CannotAdapt
    from kgrel.models.relation.calibration_fitting import CannotCalibrate

    try:
        service = KgrelService(settings_from(args))
    except KGError as e:
        return fail(str(e))
    try:
        if args.list:
            print(json.dumps(service.models.models()))
            return 0
        if args.select:
            print(json.dumps(service.models.select(args.select)))
            return 0
        if args.calibrate_only:
            job, doing = service.models.start_recalibrate(seed=args.seed), "calibrating"
            print("refitting the calibration on the store's examples ...", file=sys.stderr)
        else:
            job, doing = service.models.start_adapt(AdaptConfig(
                steps=args.steps, train_layers=args.train_layers, validation_share=args.validation_share,
                seed=args.seed, force=args.force)), "adapting"
            print("adapting (relation-disjoint validation before and after) ...", file=sys.stderr)
        while job.status in ("queued", "running"):
            time.sleep(0.5)
        if job.status == "failed":
            return fail(f"{doing} failed: {job.error}")
        print(json.dumps({"task": "calibrate" if args.calibrate_only else "adapt", **job.result}))
        return 0
    except (KGError, CannotAdapt, CannotCalibrate) as e:
        return fail(str(e))
    finally:
        service.close()
