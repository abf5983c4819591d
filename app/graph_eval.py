"""Wiring for `kgrel eval --kg`: the same linking and graph evidence the service uses, for an evaluation file.

FewRel relation ids (P26) are Wikidata properties; in a graph they are wdt:P26. FewRel entity ids
become wd:Q.. IRIs when the data is read, so mentions are linked by IRI.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path

from app.config import Settings
from app.service import KgrelService
from kg.namespaces import WDT
from kg.store import EmbeddedStore
from models.evaluate import GraphInputs
from models.graph_evidence import RelationGraphProfile
from models.kg_embeddings import KGEmbeddings
from models.link_prediction import LPConfig

log = logging.getLogger(__name__)


def graph_relation_iri(relation_id: str) -> str:
    return relation_id if ":" in relation_id else WDT + relation_id


def build_graph_inputs(model, data: dict, side_info: dict | None, kg: str, *, embeddings_dir: str | None = None,
                       lp_config: LPConfig | None = None, settings: Settings | None = None,
                       observed_domain_range: bool = True) -> tuple[GraphInputs, dict | None, dict]:
    """Graph contexts for every instance of `data`, the relations' graph profile, side information
    enriched with observed domain/range, and a coverage report.

    `kg` is an RDF file (loaded into a store in memory) or the IRI of a named graph of the configured
    store. Embeddings are loaded from `embeddings_dir` when it holds some, else trained (and saved there).
    """
    path = Path(kg)
    if path.is_file():
        work = Path(tempfile.mkdtemp(prefix="kgrel-eval-"))
        service = KgrelService(Settings(data_dir=work), store=EmbeddedStore(None), model=model)
        report = service.ingest_file(path)
        log.info("loaded %s: %d triples", path, report.added)
        graph_iri = None
    else:
        service = KgrelService(settings or Settings(), model=model)
        graph_iri = service.iri(kg)
    try:
        emb_path = Path(embeddings_dir) if embeddings_dir else None
        if emb_path is not None and (emb_path / "kg.json").exists():
            embeddings = KGEmbeddings.load(emb_path)
        else:
            from kg.export import export_graph

            export = export_graph(service.store, graph_iri)
            embeddings = KGEmbeddings.train(export, lp_config or LPConfig(rank=128, epochs=30, negatives=4096,
                                                                          time_limit_s=900))
            if emb_path is not None:
                embeddings.save(emb_path)
        service.kg = embeddings
        relations = sorted(data)
        iris = [graph_relation_iri(r) for r in relations]
        if side_info is not None and observed_domain_range:
            observed = service.ontology.argument_classes(iris)
            side_info = copy.deepcopy(side_info)
            for r, iri in zip(relations, iris, strict=True):
                info = side_info.get(r)
                if info is not None and iri in observed and not (info.domain or info.range):
                    info.domain, info.range = observed[iri]
        keys = [(r, i) for r in relations for i in range(len(data[r]))]
        contexts = dict(zip(keys, service.graph_contexts([data[r][i] for r, i in keys]), strict=True))
        profile = RelationGraphProfile(embeddings, iris)
        linked = [c for c in contexts.values() if c.head.entity or c.tail.entity]
        coverage = {
            "instances": len(contexts),
            "typed_head_or_tail": round(sum(bool(c.head.hypernyms or c.tail.hypernyms) for c in contexts.values())
                                        / max(1, len(contexts)), 4),
            "embedded_head_or_tail": round(sum(c.head.vector is not None or c.tail.vector is not None
                                               for c in linked) / max(1, len(contexts)), 4),
            "embedded_both": round(sum(c.head.vector is not None and c.tail.vector is not None
                                       for c in linked) / max(1, len(contexts)), 4),
            "relations_with_facts": sorted(r for r, known in zip(relations, profile.known.tolist(), strict=True)
                                           if known),
        }
        return GraphInputs(contexts, profile if profile.known.any() else None), side_info, coverage
    finally:
        service.close()
