"""Batch extraction on Ray Data: the same pipeline as `kgrel extract` in-process, in model actors.

Each actor holds the relation model and a copy of the graph (an in-memory store loaded from a dump
the driver puts in Ray's object store, or the same remote store), and turns a batch of documents
into N-Quads per document. The driver writes what comes back through the same exactly-once log
(`kg.fact_log`), so a rerun resumes the same way, whichever way it ran.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox

from kgrel.app.config import Settings
from kgrel.kg.ingest import ingest
from kgrel.kg.store import open_store


class ExtractionActor:
    """One model and one copy of the graph; called on batches {"id": [...], "text": [...]}."""

    def __init__(self, settings: dict, graph_dump: bytes | None, graph: str, threshold: float | None):
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
        self.model = self.service.models.active

    def __call__(self, batch: dict) -> dict:
        ids, texts = [str(i) for i in batch["id"]], [str(t) for t in batch["text"]]
        found = self.service.extraction.extract_documents(list(zip(ids, texts, strict=True)), graph=self.graph,
                                                          model=self.model, threshold=self.threshold)
        per_document = [ox.serialize(quads, format=ox.RdfFormat.N_QUADS).decode() if quads else ""
                        for quads in (found.by_document[doc_id] for doc_id in ids)]
        return {"id": ids, "nquads": per_document}


def extract_on_ray(documents: list[tuple[str, str]], *, settings: Settings, graph_dump: bytes | None, graph: str,
                   threshold: float | None, actors: int | None,
                   batch_size: int) -> Iterator[tuple[list[str], bytes, int]]:
    """(document ids, their N-Quads, number of facts) per batch, as the actors finish them. One actor per
    GPU of the Ray cluster when it has GPUs, else one per CPU, unless `actors` says how many."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0)) if settings.device != "cpu" else 0
    if actors is None:
        actors = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
    dump_ref = ray.put(graph_dump) if graph_dump is not None else None
    dataset = ray.data.from_items([{"id": doc_id, "text": text} for doc_id, text in documents])
    results = dataset.map_batches(
        ExtractionActor, batch_size=batch_size, batch_format="numpy", concurrency=actors,
        num_gpus=1 if gpus else None, num_cpus=None if gpus else 1,
        fn_constructor_args=(settings.model_dump(mode="json", exclude={"data_dir", "api_key", "read_key"}),
                             dump_ref, graph, threshold))
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        text = "".join(str(n) for n in batch["nquads"])
        facts = sum(1 for line in text.splitlines() if "#Statement>" in line)
        yield [str(i) for i in batch["id"]], text.encode(), facts
