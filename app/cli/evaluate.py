"""`kgrel eval fewshot|zeroshot` on FewRel-format files (GUIDE section 3), and `kgrel calibrate`."""

from __future__ import annotations

import json
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, load_model, settings_from
from kgrel.app.cli.documents import register as register_documents
from kgrel.app.cli.sentences import register as register_sentences


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate on a FewRel-format file")
    ev = p.add_subparsers(dest="task", required=True)
    f = ev.add_parser("fewshot", help="N-way K-shot episodes")
    f.add_argument("--data", required=True)
    f.add_argument("--n-way", type=int, default=5)
    f.add_argument("--k-shot", type=int, default=1)
    f.add_argument("--episodes", type=int, default=1000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--side-info", help="{id: [label, description]} or {id: {label, description, aliases}}")
    f.add_argument("--nota-rate", type=float, default=0.0,
                   help="share of queries from relations outside the episode, answered right only by none of "
                        "the above (FewRel 2.0: 0.15, 0.5)")
    add_common(f)
    z = ev.add_parser("zeroshot", help="classify every instance among all relations from side information")
    z.add_argument("--data", required=True)
    z.add_argument("--side-info", required=True)
    z.add_argument("--n-way", type=int, help="classify among this many relations at a time (random seeded subsets) "
                                             "instead of all of them")
    z.add_argument("--subsets", type=int, default=100, help="with --n-way: how many relation subsets")
    z.add_argument("--seed", type=int, default=0)
    add_common(z)
    register_documents(ev)
    register_sentences(ev)
    for q in (f, z):
        q.add_argument("--kg", help="graph for linking and embeddings: an RDF file, or a named graph of the store")
        q.add_argument("--no-kg", action="store_true", help="ablation: ignore --kg")
        q.add_argument("--kg-embeddings", help="folder of trained graph embeddings to reuse (trained and saved "
                                               "there when empty)")
        q.add_argument("--kg-rank", type=int, default=128)
        q.add_argument("--kg-epochs", type=int, default=30)
        q.add_argument("--kg-time-limit", type=float, default=900)
        q.add_argument("--kg-negatives", type=int, default=4096, help="sampled negatives per batch (0: all)")
        q.add_argument("--graph-evidence", help="comma-separated subset of hypernyms,argument_fit,"
                       "plausibility")
        q.add_argument("--no-observed-domain-range", action="store_true",
                       help="ablation: do not add the classes of each relation's facts to its side information")
        q.set_defaults(func=run)

    p = sub.add_parser("calibrate", help="fit score calibration and write it into a model folder")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--side-info")
    p.add_argument("--out", required=True)
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--per-relation", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    add_common(p)
    p.set_defaults(func=run_calibrate)


def _evidence(args, model, data: dict, side_info: dict | None):
    """Graph evidence for `--kg`: an RDF file loaded into a store in memory, or a named graph of the store."""
    from kgrel.app.services.embeddings import training_config
    from kgrel.kg.ingest import ingest_file
    from kgrel.kg.prefixes import PrefixMap
    from kgrel.kg.store import EmbeddedStore, open_store
    from kgrel.models.fusion.evaluation import evidence_for_file

    chosen = None
    if args.graph_evidence is not None:
        chosen = {name.strip() for name in args.graph_evidence.split(",") if name.strip()}
        # A kind named here is on: at the model's weight, or 1 where the model has it off.
        model.config.graph_weights = {k: ((w or 1.0) if k in chosen else 0.0)
                                      for k, w in model.config.graph_weights.items()}
    # Only argument fit and plausibility read graph embeddings: without them nothing is trained.
    embeddings = chosen is None or bool(chosen & {"argument_fit", "plausibility"})
    settings = settings_from(args)
    path = Path(args.kg)
    if path.is_file():
        store, graph_iri = EmbeddedStore(None), None
        ingest_file(store, path)
    else:
        store = open_store(settings.store_location(), settings.store_update_url, settings.store_engine)
        graph_iri = PrefixMap(settings.data_dir / "prefixes.json").expand(args.kg)
    try:
        return evidence_for_file(
            data, side_info, store, graph_iri, embeddings_dir=args.kg_embeddings,
            lp_config=training_config(rank=args.kg_rank, epochs=args.kg_epochs, time_limit_s=args.kg_time_limit,
                                      negatives=args.kg_negatives or None),
            observed_domain_range=not args.no_observed_domain_range, lang=settings.lang, embeddings=embeddings)
    finally:
        store.close()


def run(args) -> int:
    from kgrel.models.relation.evaluation import evaluate_fewshot, evaluate_zeroshot
    from kgrel.models.relation.fewrel import load_fewrel, load_side_info

    try:
        data = load_fewrel(args.data)
        side_info = load_side_info(args.side_info) if args.side_info else None
    except (OSError, ValueError) as e:
        return fail(str(e))
    model = load_model(args)
    evidence = None
    if args.kg and not args.no_kg:
        evidence = _evidence(args, model, data, side_info)
        side_info = evidence.side_info  # with the classes each relation's facts have
    try:
        if args.task == "fewshot":
            if args.nota_rate and evidence is not None:
                return fail("--nota-rate is measured on text alone; leave out --kg")
            result = evaluate_fewshot(model, data, args.n_way, args.k_shot, args.episodes, args.seed, side_info,
                                      evidence=evidence, nota_rate=args.nota_rate)
        else:
            if side_info is None:
                return fail("zero-shot evaluation needs --side-info")
            result = evaluate_zeroshot(model, data, side_info, evidence=evidence, n_way=args.n_way,
                                       subsets=args.subsets, seed=args.seed)
    except ValueError as e:
        return fail(str(e))
    if evidence is not None:
        result["graph_coverage"] = evidence.coverage
        result["graph_weights"] = model.config.graph_weights
    result.update(model=settings_from(args).model_location() or f"untrained {model.encoder.model_dir.name}",
                  device=str(model.device))
    print(json.dumps(result))
    return 0


def run_calibrate(args) -> int:
    from kgrel.models.relation.calibration_fitting import fit_calibration
    from kgrel.models.relation.fewrel import load_fewrel, load_side_info

    data: dict = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items[:args.per_relation])
    side_info = load_side_info(args.side_info) if args.side_info else None
    model = load_model(args)
    calibration, report = fit_calibration(model, data, side_info, episodes=args.episodes, seed=args.seed)
    model.config.calibration = calibration.to_json()
    out = Path(args.out)
    model.config.save(out)
    print(json.dumps({"out": str(out), "calibration": model.config.calibration, "nota": report}))
    return 0
