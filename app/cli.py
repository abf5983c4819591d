"""The `kgrel` command line: serve, ingest, predict, eval, calibrate.

Each command prints JSON on stdout (the last line, for evaluations) and progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from pydantic import TypeAdapter, ValidationError


def _settings(args: argparse.Namespace):
    from app.config import Settings

    overrides = {}
    for name in ("data_dir", "store", "model", "encoder", "device", "precision"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _fail(message: str, code: int = 2) -> int:
    print(f"kgrel: {message}", file=sys.stderr)
    return code


def _add_common(p: argparse.ArgumentParser, model: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, help="data directory (default: $KGREL_DATA_DIR or ./var)")
    p.add_argument("--store", help="store directory or SPARQL endpoint URL (default: DATA_DIR/store)")
    if model:
        p.add_argument("--model", help="relation model folder, or 'untrained'")
        p.add_argument("--encoder", help="Hugging Face encoder folder to use instead of the packaged one")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"])
        p.add_argument("--precision", choices=["fp32", "int8", "bf16"], help="encoder arithmetic (default fp32)")


def cmd_serve(args) -> int:
    import uvicorn

    from app.main import create_app

    settings = _settings(args)
    if args.load_demo:
        settings.load_demo = True
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_ingest(args) -> int:
    from kg.errors import KGError
    from kg.formats import format_by_name, format_for_path

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"{path}: no such file")
    try:
        rdf_format = format_by_name(args.format) if args.format else format_for_path(path)
    except KGError as e:
        return _fail(str(e))
    if args.url:
        return _http_ingest(args, path, rdf_format)
    from kg.ingest import ingest
    from kg.prefixes import PrefixMap
    from kg.store import open_store

    settings = _settings(args)
    try:
        store = open_store(settings.store_location(), settings.store_update_url)
    except KGError as e:
        return _fail(str(e))
    prefixes = PrefixMap(settings.data_dir / "prefixes.json")
    graph = prefixes.expand(args.graph) if args.graph else None
    try:
        with _progress_reader(path) as source:
            report = ingest(store, source, rdf_format, graph=graph, base_iri=path.resolve().as_uri())
    except KGError as e:
        return _fail(f"{path}: {e} (nothing was inserted)")
    finally:
        store.close()
    prefixes.add(report.prefixes)
    print(json.dumps({"file": str(path), "added": report.added, "parsed": report.parsed, "graph": graph}))
    return 0


def _progress_reader(path: Path):
    """The file opened for reading, gunzipped when it ends in .gz, with a byte progress bar on stderr."""
    import contextlib
    import gzip

    from tqdm import tqdm

    @contextlib.contextmanager
    def opened():
        with open(path, "rb") as raw, tqdm.wrapattr(raw, "read", total=path.stat().st_size, desc=path.name,
                                                    file=sys.stderr, leave=False) as tracked:
            yield gzip.GzipFile(fileobj=tracked) if path.suffix == ".gz" else tracked

    return opened()


def _http_ingest(args, path: Path, rdf_format) -> int:
    import gzip

    import httpx

    from kg.formats import MEDIA_TYPES

    media = next(m for m, f in MEDIA_TYPES.items() if f == rdf_format)
    body = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    params = {"graph": args.graph} if args.graph else {}
    response = httpx.post(args.url.rstrip("/") + "/graph/triples", content=body, params=params,
                          headers={"Content-Type": media, **_auth(args)}, timeout=None)
    print(response.text)
    return 0 if response.is_success else 1


def _auth(args) -> dict:
    return {"X-API-Key": args.api_key} if getattr(args, "api_key", None) else {}


def cmd_predict(args) -> int:
    from app.schemas import PredictIn

    raw = sys.stdin.read() if args.input in (None, "-") else Path(args.input).read_text(encoding="utf-8")
    try:
        payload = json.loads(raw)
        items = TypeAdapter(PredictIn | list[PredictIn]).validate_python(payload)
    except (json.JSONDecodeError, ValidationError) as e:
        return _fail(f"invalid predict input: {e}")
    if args.url:
        import httpx

        response = httpx.post(args.url.rstrip("/") + "/predict", json=payload, headers=_auth(args), timeout=None)
        print(response.text)
        return 0 if response.is_success else 1
    from app.service import KgrelService, PredictRequest
    from kg.errors import KGError
    from models.instances import InvalidInstance

    batch = items if isinstance(items, list) else [items]
    try:
        service = KgrelService(_settings(args))
    except KGError as e:
        return _fail(str(e))
    try:
        requests = [PredictRequest(x.to_instance(service.iri), x.candidates, x.top_k, x.threshold) for x in batch]
        results = service.predict(requests)
    except (InvalidInstance, KGError) as e:
        return _fail(str(e))
    finally:
        service.close()
    out = [{"predictions": [{"relation": p.relation, "curie": service.curie(p.relation), "label": p.label,
                             "score": p.score} for p in r.predictions], "none_of_the_above": r.none_of_the_above}
           for r in results]
    print(json.dumps(out if isinstance(items, list) else out[0], ensure_ascii=False))
    return 0


def _load_model(args):
    from models.relation_model import RelationModel

    settings = _settings(args)
    return RelationModel.load(settings.model_location(), encoder_dir=settings.encoder, device=settings.device,
                              precision=settings.precision)


def cmd_eval(args) -> int:
    from models.evaluate import evaluate_fewshot, evaluate_zeroshot
    from models.fewrel import load_fewrel, load_side_info

    try:
        data = load_fewrel(args.data)
        side_info = load_side_info(args.side_info) if args.side_info else None
    except (OSError, ValueError) as e:
        return _fail(str(e))
    model = _load_model(args)
    graph, coverage = None, None
    if args.kg and not args.no_kg:
        from app.graph_eval import build_graph_inputs
        from models.link_prediction import LPConfig

        if args.graph_evidence is not None:
            chosen = {name.strip() for name in args.graph_evidence.split(",") if name.strip()}
            model.config.graph_weights = {k: (w if k in chosen else 0.0) for k, w in model.config.graph_weights.items()}
        graph, side_info, coverage = build_graph_inputs(
            model, data, side_info, args.kg, embeddings_dir=args.kg_embeddings, settings=_settings(args),
            lp_config=LPConfig(rank=args.kg_rank, epochs=args.kg_epochs, time_limit_s=args.kg_time_limit,
                               negatives=args.kg_negatives),
            observed_domain_range=not args.no_observed_domain_range)
    try:
        if args.task == "fewshot":
            result = evaluate_fewshot(model, data, args.n_way, args.k_shot, args.episodes, args.seed, side_info,
                                      graph=graph)
        else:
            if side_info is None:
                return _fail("zero-shot evaluation needs --side-info")
            result = evaluate_zeroshot(model, data, side_info, graph=graph, n_way=args.n_way,
                                       subsets=args.subsets, seed=args.seed)
    except ValueError as e:
        return _fail(str(e))
    if coverage is not None:
        result["graph_coverage"] = coverage
        result["graph_weights"] = model.config.graph_weights
    result.update(model=_settings(args).model_location() or f"untrained {model.encoder.model_dir.name}",
                  device=str(model.device))
    print(json.dumps(result))
    return 0


def cmd_calibrate(args) -> int:
    from models.calibration import fit_calibration
    from models.fewrel import load_fewrel, load_side_info

    data: dict = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items[:args.per_relation])
    side_info = load_side_info(args.side_info) if args.side_info else None
    model = _load_model(args)
    calibration, report = fit_calibration(model, data, side_info, episodes=args.episodes, seed=args.seed)
    model.config.calibration = calibration.to_json()
    out = Path(args.out)
    model.config.save(out)
    print(json.dumps({"out": str(out), "calibration": model.config.calibration, "nota": report}))
    return 0


def cmd_train(args) -> int:
    import random

    import torch

    from models.fewrel import load_fewrel, load_side_info
    from models.relation_model import ModelConfig, RelationModel
    from models.train import RelationTrainer, TrainConfig

    data: dict = {}
    for path in args.data:
        for rel, items in load_fewrel(path).items():
            data.setdefault(rel, []).extend(items)
    side_info = load_side_info(args.side_info)
    relations = sorted(data)
    if args.dev_relations:
        dev_names = [r.strip() for r in args.dev_relations.split(",") if r.strip()]
        unknown = [r for r in dev_names if r not in data]
        if unknown:
            return _fail(f"--dev-relations not in the data: {unknown}")
    else:
        dev_names = sorted(random.Random(args.seed).sample(relations, args.dev_count)) if args.dev_count else []
    dev = {r: data[r][:args.dev_per_relation] for r in dev_names}
    train = {r: items for r, items in data.items() if r not in dev}
    torch.manual_seed(args.seed)
    settings = _settings(args)
    base = RelationModel.load(None, encoder_dir=settings.encoder, device=settings.device)
    base.config = ModelConfig(encoder=base.config.encoder, max_length=base.config.max_length)
    config = TrainConfig(steps=args.steps, train_layers=args.train_layers, n_way=args.n_way, seed=args.seed,
                         eval_every=args.eval_every, patience=args.patience, align_weight=args.align_weight,
                         hard_negatives=args.hard_negatives, side_dropout=args.side_dropout,
                         lr_encoder=args.lr, lr_heads=args.lr_heads, max_per_relation=args.max_per_relation,
                         precision=args.train_precision,
                         notes=args.notes or f"kgrel trained on {len(train)} FewRel relations, seed {args.seed}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    trainer = RelationTrainer(base, train, side_info, dev or None, config)
    result = trainer.train()
    if dev:
        from models.calibration import fit_calibration

        calibration, report = fit_calibration(base, dev, side_info, n_way=min(10, len(dev) - 1),
                                              episodes=args.calibration_episodes, seed=args.seed)
        base.config.calibration = calibration.to_json()
        result["nota"] = report
        result["dev"] = trainer.evaluate(dev, settings=((5, 0), (5, 1), (5, 5), (10, 1)), episodes=1000, seed=0)
    elif args.calibration_from:
        # No unseen relation is left to calibrate on: take the calibration of the same recipe's held-out fold.
        from models.relation_model import ModelConfig

        base.config.calibration = ModelConfig.load(Path(args.calibration_from)).calibration
        result["calibration_from"] = args.calibration_from
    out = Path(args.out)
    trainer.save(out, result)
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps({"task": "train", "out": str(out), "train_relations": sorted(train),
                      "dev_relations": dev_names, **summary}))
    return 0


def cmd_kg_eval_lp(args) -> int:
    import torch

    from models.link_prediction import (
        LPConfig,
        filtered_ranks,
        known_tails,
        load_tsv_splits,
        lp_metrics,
        train_link_predictor,
    )
    from models.text_encoder import resolve_device

    try:
        export, train, valid, test = load_tsv_splits(args.train, args.valid, args.test)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    device = resolve_device(args.device or "auto")
    config = LPConfig(decoder=args.decoder, encoder=args.gnn, rank=args.rank, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, n3=args.n3, time_limit_s=args.time_limit,
                      eval_every=args.eval_every, rgcn_layers=args.rgcn_layers, rgcn_bases=args.rgcn_bases,
                      negatives=args.negatives or None, seed=args.seed)
    known = known_tails(torch.cat([train, valid, test]), len(export.relations))
    model, report = train_link_predictor(train, export.num_nodes, len(export.relations), config, valid=valid,
                                         known=known, device=device)
    metrics = lp_metrics(filtered_ranks(model, test.to(device), known))
    if args.plot:
        _plot_lp(report["history"], Path(args.plot))
    print(json.dumps({"task": "link_prediction", **metrics, "train_seconds": report["seconds"],
                      "device": str(device), "epochs": report["epochs"], "best_valid_mrr": report["best_valid_mrr"],
                      "entities": export.num_nodes, "relations": len(export.relations),
                      "train_triples": len(train), "test_triples": len(test), "dropped": export.dropped,
                      "config": report["config"]}))
    return 0


def cmd_kg_train(args) -> int:
    from tqdm import tqdm

    from app.service import KgrelService
    from kg.errors import KGError
    from models.link_prediction import LPConfig

    try:
        service = KgrelService(_settings(args))
    except KGError as e:
        return _fail(str(e))
    config = LPConfig(decoder=args.decoder, encoder=args.gnn, rank=args.rank, epochs=args.epochs,
                      time_limit_s=args.time_limit)
    bar = tqdm(total=args.epochs, desc="kg training", unit="epoch", file=sys.stderr)
    try:
        job = service.start_kg_training(args.graph, config)
        last = 0
        while job.status in ("queued", "running"):
            epoch = job.progress.get("epoch", 0)
            if epoch > last:
                bar.update(epoch - last)
                bar.set_postfix(loss=round(job.progress.get("loss", 0.0), 4))
                last = epoch
            time.sleep(0.2)
        bar.close()
        if job.status == "failed":
            return _fail(f"training failed: {job.error}")
        folder = Path(job.result["folder"])
        history = service.kg.report["history"]
        _plot_lp(history, folder / "training.png")
        print(json.dumps({"task": "kg_train", **job.result, "plot": str(folder / "training.png")}))
        return 0
    finally:
        service.close()


def _plot_lp(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [h for h in history if "valid_mrr" in h]
    fig, ax = plt.subplots(1, 2 if points else 1, figsize=(9 if points else 4.5, 3.4), squeeze=False)
    ax[0][0].plot([h["epoch"] for h in history], [h["loss"] for h in history])
    ax[0][0].set(xlabel="epoch", ylabel="training loss")
    if points:
        ax[0][1].plot([h["epoch"] for h in points], [h["valid_mrr"] for h in points], marker="o")
        ax[0][1].set(xlabel="epoch", ylabel="filtered validation MRR")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgrel", description="Knowledge-graph-augmented relation extraction.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the REST API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--load-demo", action="store_true", help="load the bundled demo graph into an empty store")
    _add_common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ingest", help="add an RDF file to the store (atomic)")
    p.add_argument("file")
    p.add_argument("--graph", help="named graph (IRI or CURIE) for triples outside any named graph")
    p.add_argument("--format", help="turtle, nt, nquads, trig, jsonld or rdfxml (default: from the extension)")
    p.add_argument("--url", help="send to a running kgrel server instead of opening the store")
    p.add_argument("--api-key")
    _add_common(p, model=False)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("predict", help="classify relations: JSON in (file or stdin), JSON out")
    p.add_argument("input", nargs="?", help="JSON file with one item or a list (default: stdin)")
    p.add_argument("--url", help="ask a running kgrel server instead of loading the model here")
    p.add_argument("--api-key")
    _add_common(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("eval", help="evaluate on a FewRel-format file")
    ev = p.add_subparsers(dest="task", required=True)
    f = ev.add_parser("fewshot", help="N-way K-shot episodes")
    f.add_argument("--data", required=True)
    f.add_argument("--n-way", type=int, default=5)
    f.add_argument("--k-shot", type=int, default=1)
    f.add_argument("--episodes", type=int, default=1000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--side-info", help="{id: [label, description]} or {id: {label, description, aliases}}")
    _add_common(f)
    z = ev.add_parser("zeroshot", help="classify every instance among all relations from side information")
    z.add_argument("--data", required=True)
    z.add_argument("--side-info", required=True)
    z.add_argument("--n-way", type=int, help="classify among this many relations at a time (random seeded subsets) "
                                             "instead of all of them")
    z.add_argument("--subsets", type=int, default=100, help="with --n-way: how many relation subsets")
    z.add_argument("--seed", type=int, default=0)
    _add_common(z)
    for q in (f, z):
        q.add_argument("--kg", help="graph for linking and embeddings: an RDF file, or a named graph of the store")
        q.add_argument("--no-kg", action="store_true", help="ablation: ignore --kg")
        q.add_argument("--kg-embeddings", help="folder of trained graph embeddings to reuse (trained and saved "
                                               "there when empty)")
        q.add_argument("--kg-rank", type=int, default=128)
        q.add_argument("--kg-epochs", type=int, default=30)
        q.add_argument("--kg-time-limit", type=float, default=900)
        q.add_argument("--kg-negatives", type=int, default=4096, help="sampled negatives per batch (0: all)")
        q.add_argument("--graph-evidence", help="comma-separated subset of hypernyms,argument_fit,plausibility")
        q.add_argument("--no-observed-domain-range", action="store_true",
                       help="ablation: do not add the classes of each relation's facts to its side information")
        q.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="meta-train the relation model on FewRel-format files")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--side-info", required=True)
    p.add_argument("--out", default="data/models/kgrel-minilm")
    p.add_argument("--dev-relations", help="comma-separated relations held out for early stopping and calibration")
    p.add_argument("--dev-count", type=int, default=0, help="or hold out this many relations at random (seeded)")
    p.add_argument("--dev-per-relation", type=int, default=200)
    p.add_argument("--steps", type=int, default=1500, help="most steps (early stopping with a dev split)")
    p.add_argument("--train-layers", type=int, default=5,
                   help="top encoder layers to fine-tune (0: heads only; 5: the shipped recipe)")
    p.add_argument("--n-way", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate of the encoder layers")
    p.add_argument("--lr-heads", type=float, default=1e-4)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--calibration-from", help="without a dev split: copy the calibration of this model folder")
    p.add_argument("--align-weight", type=float, default=1.0)
    p.add_argument("--side-dropout", type=float, default=0.2)
    p.add_argument("--hard-negatives", type=float, help="temperature of similarity-weighted relation sampling")
    p.add_argument("--max-per-relation", type=int)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--calibration-episodes", type=int, default=300)
    p.add_argument("--train-precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="arithmetic of training steps (auto: bf16 where the hardware runs it fast)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--notes")
    _add_common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("kg", help="knowledge-graph embeddings")
    kg = p.add_subparsers(dest="kg_command", required=True)
    kt = kg.add_parser("train", help="train graph embeddings on the store (progress bar, loss curve PNG)")
    kt.add_argument("--graph", help="named graph to learn from (default: all graphs)")
    kt.add_argument("--decoder", choices=["complex", "distmult"], default="complex")
    kt.add_argument("--gnn", choices=["none", "rgcn"], default="none",
                    help="entity encoder: none (shallow embeddings) or rgcn")
    kt.add_argument("--rank", type=int, default=128)
    kt.add_argument("--epochs", type=int, default=50)
    kt.add_argument("--time-limit", type=float, default=900)
    _add_common(kt)
    kt.set_defaults(func=cmd_kg_train)
    lp = kg.add_parser("eval-lp", help="train and evaluate link prediction on tab-separated triple files")
    lp.add_argument("--train", required=True)
    lp.add_argument("--valid", required=True)
    lp.add_argument("--test", required=True)
    lp.add_argument("--decoder", choices=["complex", "distmult"], default="complex")
    lp.add_argument("--gnn", choices=["none", "rgcn"], default="none",
                    help="entity encoder: none (shallow embeddings) or rgcn")
    lp.add_argument("--rank", type=int, default=256)
    lp.add_argument("--epochs", type=int, default=200)
    lp.add_argument("--batch-size", type=int, default=1000)
    lp.add_argument("--lr", type=float, default=0.1)
    lp.add_argument("--n3", type=float, default=5e-3)
    lp.add_argument("--negatives", type=int, default=0,
                    help="score each batch against this many sampled entities (plus its answers) instead of all")
    lp.add_argument("--eval-every", type=int, default=5)
    lp.add_argument("--time-limit", type=float, default=1800, help="seconds of training at most")
    lp.add_argument("--rgcn-layers", type=int, default=1)
    lp.add_argument("--rgcn-bases", type=int, default=8)
    lp.add_argument("--seed", type=int, default=0)
    lp.add_argument("--plot", help="write the loss and validation-MRR curves to this PNG")
    lp.add_argument("--device", choices=["auto", "cpu", "cuda"])
    lp.set_defaults(func=cmd_kg_eval_lp)

    p = sub.add_parser("calibrate", help="fit score calibration and write it into a model folder")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--side-info")
    p.add_argument("--out", required=True)
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--per-relation", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    _add_common(p)
    p.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
