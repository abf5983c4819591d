"""Batch extraction on Ray Data: the same pipeline as `kgrel extract` in-process, in model actors.

Each actor holds the relation model and a copy of the graph (an in-memory store loaded from a dump
the driver puts in Ray's object store, or the same remote store), and turns a batch of documents
into N-Quads per document. The driver writes what comes back through the same exactly-once log
(`kg.fact_log`), so a rerun resumes the same way, whichever way it ran.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox

from kgrel.app.config import Settings
from kgrel.kg.ingest import ingest
from kgrel.kg.store import open_store


class ExtractionActor:
    """One model and one copy of the graph; called on rows that are each one batch of documents, as
    the in-process run forms them (so the encoder sees the same batches, and scores come out the same)."""

    def __init__(self, settings: dict, graph_dump: bytes | None, graph: str, threshold: float | None, model: str):
        import ray

        from kgrel.app.services import KgrelService

        settings = Settings(**{**settings, "data_dir": Path(tempfile.mkdtemp(prefix="kgrel-actor-"))})
        if isinstance(graph_dump, ray.ObjectRef):
            graph_dump = ray.get(graph_dump)
        store = None
        if graph_dump is not None:  # the embedded store is one process's: work on a copy of it
            store = open_store(None)
            ingest(store, graph_dump, ox.RdfFormat.N_QUADS)
        self.service = KgrelService(settings, store=store)
        self.graph, self.threshold = graph, threshold
        self.model = model  # the serving model's name, for provenance (its folder is in the settings)

    def __call__(self, rows: dict) -> dict:
        out = {"ids": [], "nquads": [], "facts": []}
        for ids, texts in zip(rows["ids"], rows["texts"], strict=True):
            documents = [(str(i), str(t)) for i, t in zip(ids, texts, strict=True)]
            found = self.service.extraction.extract_documents(documents, graph=self.graph, model=self.model,
                                                              threshold=self.threshold)
            out["ids"].append(json.dumps([doc_id for doc_id, _ in documents]))
            out["nquads"].append(ox.serialize(found.quads, format=ox.RdfFormat.N_QUADS).decode()
                                 if found.quads else "")
            out["facts"].append(found.facts)
        return out


def extract_on_ray(documents: list[tuple[str, str]], *, settings: Settings, graph_dump: bytes | None, graph: str,
                   threshold: float | None, actors: int | None,
                   batch_size: int) -> Iterator[tuple[list[str], bytes, int]]:
    """(document ids, their N-Quads, number of facts) per batch, as the actors finish them. One actor per
    GPU of the Ray cluster when it has GPUs, else one per CPU, unless `actors` says how many. The actors
    run the model that serves in `settings`' data dir (an adapted one when chosen), named as it is there."""
    import ray

    from kgrel.app.services.model import ModelService

    model = ModelService.saved_choice(settings)
    settings = settings.model_copy(update={"model": ModelService.location_of(settings, model) or "untrained"})

    gpus = int(ray.cluster_resources().get("GPU", 0)) if settings.device != "cpu" else 0
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if actors is None:
        actors = gpus or cpus
    dump_ref = ray.put(graph_dump) if graph_dump is not None else None
    batches = [documents[i:i + batch_size] for i in range(0, len(documents), batch_size)]
    dataset = ray.data.from_items([{"ids": [d for d, _ in b], "texts": [t for _, t in b]} for b in batches])
    results = dataset.map_batches(
        ExtractionActor, batch_size=1, batch_format="numpy", concurrency=actors,
        # The CPUs shared out: Ray gives an actor as many torch threads as it has CPUs.
        num_gpus=1 if gpus else None, num_cpus=None if gpus else max(1, cpus // actors),
        fn_constructor_args=(settings.model_dump(mode="json", exclude={"data_dir", "api_key", "read_key"}),
                             dump_ref, graph, threshold, model))
    for row in results.iter_rows():
        yield json.loads(row["ids"]), row["nquads"].encode(), int(row["facts"])
