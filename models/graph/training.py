"""Training a link predictor: 1-vs-all (or sampled) cross-entropy over reciprocal queries, N3 regularised,
early-stopped on filtered validation MRR."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from kgrel.models.device import autocast_dtype, resolve_device
from kgrel.models.graph.evaluation import filtered_ranks, known_tails, load_tsv_splits, lp_metrics
from kgrel.models.graph.link_predictor import LinkPredictor, LPConfig, reciprocal


def train_link_predictor(train: torch.Tensor, num_entities: int, num_relations: int, config: LPConfig,
                         valid: torch.Tensor | None = None, known: dict | None = None,
                         device: str | torch.device = "cpu", progress: bool = True,
                         on_epoch=None) -> tuple[LinkPredictor, dict]:
    """Train on (E, 3) index triples; early-stops on filtered validation MRR when `valid` is given.

    `on_epoch(record)` is called after every epoch (progress for the API's job status).
    """
    with torch.enable_grad():  # callers may have turned autograd off for inference
        return _train(train, num_entities, num_relations, config, valid, known, device, progress, on_epoch)


def _train(train, num_entities, num_relations, config, valid, known, device, progress, on_epoch):
    torch.manual_seed(config.seed)
    device = torch.device(device)
    model = LinkPredictor(num_entities, num_relations, config).to(device)
    if model.encoder.needs_graph:
        model.set_graph(train.to(device))
    queries = reciprocal(train, num_relations).to(device)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=config.lr)
    amp = autocast_dtype(device, config.precision)
    started = time.perf_counter()
    history: list[dict] = []
    best, best_state, since_best = -1.0, None, 0
    bar = tqdm(range(1, config.epochs + 1), desc="kg training", unit="epoch", disable=not progress)
    for epoch in bar:
        perm = queries[torch.randperm(len(queries), device=device)]
        total = 0.0
        for start in range(0, len(perm), config.batch_size):
            batch = perm[start:start + config.batch_size]
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                entities = model.entities()
                heads, tails = entities[batch[:, 0]], entities[batch[:, 2]]
                candidates = None
                if config.negatives and config.negatives < num_entities:
                    # Candidates: every answer of the batch plus shared random entities, each once.
                    candidates = torch.unique(torch.cat([batch[:, 2], torch.randint(
                        num_entities, (config.negatives,), device=device)]))
                    target = torch.searchsorted(candidates, batch[:, 2].contiguous())
                else:
                    target = batch[:, 2]
                logits = model(batch[:, 0], batch[:, 1], candidates=candidates, entities=entities)
            loss = F.cross_entropy(logits.float(), target, label_smoothing=config.label_smoothing)
            if config.n3:
                factors = model.decoder.factors(heads.float(), batch[:, 1], tails.float())
                loss = loss + config.n3 * sum((f ** 3).sum() for f in factors) / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        record = {"epoch": epoch, "loss": total / len(perm), "seconds": round(time.perf_counter() - started, 1)}
        out_of_time = config.time_limit_s is not None and time.perf_counter() - started > config.time_limit_s
        if valid is not None and (epoch % config.eval_every == 0 or epoch == config.epochs or out_of_time):
            metrics = lp_metrics(filtered_ranks(model, valid.to(device), known))
            record.update({f"valid_{k}": v for k, v in metrics.items()})
            if record["valid_mrr"] > best:
                best, since_best = record["valid_mrr"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
        history.append(record)
        bar.set_postfix({k: v for k, v in record.items() if k in ("loss", "valid_mrr")})
        if on_epoch is not None:
            on_epoch({**record, "epochs": config.epochs})
        if out_of_time or since_best >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, {"history": history, "seconds": round(time.perf_counter() - started, 1),
                   "epochs": history[-1]["epoch"], "best_valid_mrr": best if valid is not None else None,
                   "config": asdict(config)}


def benchmark_link_prediction(train_path: str | Path, valid_path: str | Path, test_path: str | Path,
                              config: LPConfig, device: str = "auto") -> dict:
    """Train on the training split (early stopping on validation) and rank the test split, filtered over
    all three splits: the GUIDE's knowledge-graph protocol. Returns metrics, timings and the training history."""
    export, train, valid, test = load_tsv_splits(train_path, valid_path, test_path)
    device = resolve_device(device)
    known = known_tails(torch.cat([train, valid, test]), len(export.relations))
    model, report = train_link_predictor(train, export.num_nodes, len(export.relations), config, valid=valid,
                                         known=known, device=device)
    metrics = lp_metrics(filtered_ranks(model, test.to(device), known))
    return {"task": "link_prediction", **metrics, "train_seconds": report["seconds"], "device": str(device),
            "epochs": report["epochs"], "best_valid_mrr": report["best_valid_mrr"], "entities": export.num_nodes,
            "relations": len(export.relations), "train_triples": len(train), "test_triples": len(test),
            "dropped": export.dropped, "config": report["config"], "history": report["history"]}


def plot_history(history: list[dict], path: Path) -> None:
    """Training loss and, where measured, filtered validation MRR per epoch, as PNG."""
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
