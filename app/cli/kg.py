"""`kgrel kg train` (graph embeddings on the store) and `kgrel kg eval-lp` (link prediction on split files)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, settings_from


def add_model_choice(p) -> None:
    """The link predictor: a decoder (interaction) and an entity encoder (representation)."""
    p.add_argument("--decoder", choices=["complex", "distmult"], default="complex")
    p.add_argument("--gnn", choices=["none", "rgcn", "ultra"], default="none",
                   help="entity encoder: none (shallow embeddings), rgcn, or ultra (pre-trained, inductive: "
                        "no embeddings, reasons over any graph)")


def register(sub) -> None:
    p = sub.add_parser("kg", help="knowledge-graph embeddings")
    kg = p.add_subparsers(dest="kg_command", required=True)
    kt = kg.add_parser("train", help="train graph embeddings on the store (progress bar, loss curve PNG)")
    kt.add_argument("--graph", help="named graph to learn from (default: all graphs)")
    add_model_choice(kt)
    kt.add_argument("--rank", type=int, default=128)
    kt.add_argument("--epochs", type=int, default=50)
    kt.add_argument("--time-limit", type=float, default=900)
    kt.add_argument("--checkpoint", metavar="PATH|none", help="ultra: weights to fine-tune (default: the serving "
                                                              "ones), or 'none' to train from scratch")
    add_common(kt)
    kt.set_defaults(func=run_train)
    lp = kg.add_parser("eval-lp", help="train and evaluate link prediction on tab-separated triple files")
    lp.add_argument("--train", required=True)
    lp.add_argument("--valid", required=True)
    lp.add_argument("--test", required=True, nargs="+", metavar="FILE",
                    help="triples to rank; several files are ranked together (ultra; the GraIL protocol of the "
                         "ULTRA and NBFNet papers ranks X_vN_ind/valid.txt and test.txt together)")
    add_model_choice(lp)
    lp.add_argument("--rank", type=int, default=256)
    lp.add_argument("--epochs", type=int, help="training epochs (default: 200; ultra: 0 from a checkpoint, "
                                               "10 from scratch)")
    lp.add_argument("--batch-size", type=int, help="triples per step (default: 1000; ultra: 16, or fewer to fit in "
                                                   "half of the memory available)")
    lp.add_argument("--lr", type=float, help="learning rate (default: 0.1; ultra: 5e-4)")
    lp.add_argument("--n3", type=float, default=5e-3)
    lp.add_argument("--negatives", type=int, default=0,
                    help="score each batch against this many sampled entities (plus its answers) instead of all "
                         "(ultra: negatives per training query, default 128)")
    lp.add_argument("--eval-every", type=int, default=5)
    lp.add_argument("--time-limit", type=float, default=1800, help="seconds of training at most")
    lp.add_argument("--rgcn-layers", type=int, default=1)
    lp.add_argument("--rgcn-bases", type=int, default=8)
    lp.add_argument("--seed", type=int, default=0)
    lp.add_argument("--plot", help="write the loss and validation-MRR curves to this PNG")
    lp.add_argument("--device", choices=["auto", "cpu", "cuda"])
    lp.add_argument("--checkpoint", help="ultra: weights to start from (default: the shipped ultra_3g), or "
                                         "'none' to train from scratch")
    lp.add_argument("--inference-graph", help="ultra: the graph to reason over at test time (GraIL protocol: "
                                              "X_vN_ind/train.txt), instead of the training graph; the ranking is "
                                              "filtered against every split file beside it (valid, test), as the "
                                              "protocol filters against all of X_vN_ind")
    lp.add_argument("--filter", nargs="*", default=[], metavar="FILE",
                    help="more true triples to leave out of the ranking (e.g. X_vN_ind/valid.txt)")
    lp.add_argument("--save", metavar="PATH", help="ultra: write the trained weights here (a .pt file, with a "
                                                   ".json beside it saying what they learned from), to start "
                                                   "later runs from with --checkpoint")
    lp.add_argument("--test-sample", type=int, metavar="N",
                    help="ultra: rank N test triples drawn at random (seeded) instead of all, for graphs whose "
                         "full ranking takes hours on a CPU; the output says so and gives a 95%% interval")
    lp.add_argument("--train-name", help="ultra: the training graph's name in that record (default: the "
                                         "--train file's folder)")
    lp.set_defaults(func=run_eval_lp)


def run_eval_lp(args) -> int:
    if args.gnn == "ultra":
        return _eval_ultra(args)
    if args.inference_graph or args.checkpoint or args.save or args.test_sample is not None or len(args.test) > 1:
        return fail("--inference-graph, --checkpoint, --save and --test-sample need --gnn ultra: the other models "
                    "embed the entities they trained on, so they cannot reason over another graph (and rank "
                    "every test triple in seconds), and rank one --test file")
    from kgrel.app.services.embeddings import training_config
    from kgrel.models.graph.training import benchmark_link_prediction, plot_history

    config = training_config(decoder=args.decoder, encoder=args.gnn, rank=args.rank, epochs=args.epochs or 200,
                             batch_size=args.batch_size or 1000, lr=args.lr or 0.1, n3=args.n3,
                             time_limit_s=args.time_limit,
                             eval_every=args.eval_every, rgcn_layers=args.rgcn_layers, rgcn_bases=args.rgcn_bases,
                             negatives=args.negatives or None, seed=args.seed)
    try:
        result = benchmark_link_prediction(args.train, args.valid, args.test[0], config,
                                           device=args.device or "auto")
    except (OSError, ValueError) as e:
        return fail(str(e))
    history = result.pop("history")
    if args.plot:
        plot_history(history, Path(args.plot))
    print(json.dumps(result))
    return 0


def _eval_ultra(args) -> int:
    from kgrel.app.config import Settings
    from kgrel.models.graph.ultra_training import UltraTrainConfig, benchmark

    checkpoint = None if args.checkpoint == "none" else (args.checkpoint or str(Settings().ultra_checkpoint))
    epochs = args.epochs if args.epochs is not None else (0 if checkpoint else 10)
    if checkpoint is None and epochs == 0:
        return fail("--checkpoint none trains from scratch: give --epochs N (N > 0)")
    if args.test_sample is not None and args.test_sample < 1:
        return fail("--test-sample N ranks N test triples: give N >= 1")
    if args.save and epochs == 0:
        return fail("--save writes trained weights: give --epochs N (N > 0)")
    config = UltraTrainConfig(epochs=epochs, batch_size=args.batch_size or 16, lr=args.lr or 5e-4,
                              negatives=args.negatives or 128, time_limit_s=args.time_limit, seed=args.seed)
    filters = list(dict.fromkeys([*args.filter, *split_files_beside(args.inference_graph)]))
    try:
        result = benchmark(args.train, args.valid, args.test, inference_graph=args.inference_graph,
                           filters=filters, checkpoint=checkpoint, config=config, device=args.device or "auto",
                           progress=lambda r: print(json.dumps(r), file=sys.stderr), save=args.save,
                           train_name=args.train_name, test_sample=args.test_sample,
                           fit_memory=args.batch_size is None)
    except (OSError, ValueError, RuntimeError) as e:
        return fail(str(e))
    print(json.dumps({**result, "ranked": args.test, "filtered_with": filters}))
    return 0


def split_files_beside(inference_graph: str | None) -> list[str]:
    """The valid and test files in the inference graph's folder (X_vN_ind/valid.txt[.gz], test.txt[.gz]): their
    triples are true of that graph too, so a filtered ranking must not count them as errors. Without them, ULTRA's
    MRR on nell_v1_ind/test is 0.558 instead of 0.7245 (the authors' code: 0.726)."""
    if not inference_graph:
        return []
    folder = Path(inference_graph).parent
    found = []
    for name in ("valid", "test"):
        for suffix in (".txt", ".txt.gz"):
            path = folder / f"{name}{suffix}"
            if path.exists() and path.resolve() != Path(inference_graph).resolve():
                found.append(str(path))
    return found


def run_train(args) -> int:
    from tqdm import tqdm

    from kgrel.app.services import KgrelService
    from kgrel.kg.errors import KGError
    from kgrel.models.graph.training import plot_history

    try:
        service = KgrelService(settings_from(args))
    except KGError as e:
        return fail(str(e))
    bar = tqdm(total=args.epochs, desc="kg training", unit="epoch", file=sys.stderr)
    try:
        if args.gnn == "ultra":
            job = service.embeddings.start_ultra_training(args.graph, epochs=args.epochs,
                                                          checkpoint=args.checkpoint,
                                                          time_limit_s=args.time_limit)
        else:
            job = service.embeddings.start_training(args.graph, decoder=args.decoder, encoder=args.gnn,
                                                    rank=args.rank, epochs=args.epochs, time_limit_s=args.time_limit)
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
            return fail(f"training failed: {job.error}")
        if args.gnn == "ultra":
            print(json.dumps({"task": "kg_train", **job.result}))
            return 0
        folder = Path(job.result["folder"])
        plot_history(service.embeddings.current.report["history"], folder / "training.png")
        print(json.dumps({"task": "kg_train", **job.result, "plot": str(folder / "training.png")}))
        return 0
    finally:
        service.close()
