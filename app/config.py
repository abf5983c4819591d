"""The one settings object: every option comes from here (environment variables prefixed KGREL_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgrel import data

SHIPPED = Path(data.__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KGREL_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the embedded store and kgrel's own files live.")
    store: str | None = Field(
        None, description="Embedded store directory (default: DATA_DIR/store), or the query URL of a "
                          "SPARQL 1.1 endpoint whose default graph is the union of its graphs.")
    store_engine: Literal["sparql11", "oxigraph", "fuseki", "virtuoso"] = Field(
        "sparql11", description="The SPARQL server behind KGREL_STORE when it is a URL: sparql11 (Oxigraph's "
                                "server, Fuseki; default graph the union of the graphs) or virtuoso.")
    store_update_url: str | None = Field(None, description="Update URL of the SPARQL endpoint, when not "
                                                           "derivable from the query URL.")
    model: str | None = Field(None, description="Relation model folder (default: the shipped model), "
                                                "or 'untrained' for the plain encoder.")
    encoder: str | None = Field(None, description="A Hugging Face encoder folder to use instead of the "
                                                  "packaged all-MiniLM-L6-v2 (used untrained).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto picks CUDA when present.")
    precision: Literal["fp32", "int8", "bf16"] = Field(
        "fp32", description="Encoder arithmetic: fp32, int8 (dynamic quantization, CPU) or bf16.")
    batch_size: int = Field(32, ge=1, le=1024, description="Encoder batch size.")
    api_key: SecretStr | None = Field(None, description="The write key: when set, every endpoint but /health, "
                                                        "/docs and /ui needs a key in X-API-Key or "
                                                        "Authorization: Bearer, and writes need this one.")
    read_key: SecretStr | None = Field(None, description="A key that may query and predict but not change the "
                                                         "graph (403 on writes), for dashboards.")
    max_body_bytes: int = Field(50 * 2**20, ge=1024, description="Largest request body accepted (413 above).")
    strict_literals: bool = Field(
        False, description="Refuse an ingest with typed literals the embedded store would rewrite to canonical "
                           "form (\"0042\"^^xsd:int is kept as \"42\"^^xsd:integer); by default they are stored "
                           "and counted in the ingest report.")
    sparql_timeout_s: float = Field(30.0, gt=0, description="A client's SPARQL query is stopped after this long "
                                                             "(503).")
    sparql_max_rows: int = Field(10_000, ge=1, description="Most rows (or triples) a client's query may return; "
                                                           "more is a 422 asking for LIMIT.")
    sparql_memory_mb: int = Field(2048, ge=64, description="Memory one client query may use before it is stopped.")
    sparql_concurrency: int = Field(4, ge=1, description="Client SPARQL queries run at once; more get 503 with "
                                                         "Retry-After, so queries cannot take every worker.")
    sparql_service_allow: list[str] = Field(
        default_factory=list, description="Endpoint URL prefixes that SERVICE (federated) queries may call; empty "
                                          "turns SERVICE off. Loopback, private and file: targets are never called.")
    refresh_interval_s: float = Field(
        10.0, ge=0, description="Least time between background refreshes of the relations' observed domain/range "
                                "after facts are written (relations and examples are seen at once).")
    # 10 reads a Wikipedia article's paragraph whole (Re-DocRED dev, K = 0: recall 0.36 -> 0.42 and F1 0.47 ->
    # 0.50 against 3, at the same seconds per document) and still bounds the pairs of a long document.
    pair_window: int = Field(
        10, ge=0, description="Entities whose nearest mentions are at most this many sentences apart are read as a "
                              "pair (0: only entities mentioned in one sentence); the sentences that mention them "
                              "are the pair's context.")
    max_batch: int = Field(1024, ge=1, description="Most instances in one /predict request.")
    max_examples: int = Field(256, ge=1, description="Most examples added in one request (each one is encoded "
                                                     "again whenever the relation's prototype is rebuilt).")
    lang: str = Field("en", description="Language of labels and descriptions to read.")
    use_graph: bool = Field(True, description="Use graph evidence (hypernyms, graph embeddings) for linked mentions.")
    observed_domain_range: bool = Field(
        True, description="Give relations without rdfs:domain/range the classes their facts, and the entities named by "
                          "their labelled examples, have in the graph.")
    observed_symmetry: bool = Field(
        True, description="Read a relation declared neither symmetric nor with an inverse as symmetric when most of "
                          "its facts in the graph are stated both ways (spouse, sibling).")
    link_predictor: Literal["ultra", "embeddings"] = Field(
        "ultra", description="What /kg/predict-links asks: ultra (pre-trained, reasons over the graph as it is, "
                             "no training) or embeddings (those trained with POST /kg/train).")
    plausibility: Literal["embeddings", "ultra"] = Field(
        "embeddings", description="Where the relation model's plausibility evidence for a linked pair comes from: the "
                                  "embeddings trained with POST /kg/train (entities ingested later folded in), or "
                                  "ultra, which needs no training but costs a pass over the graph per (entity, "
                                  "relation with facts), both ways: about 1.3 s per new pair whose entities both have "
                                  "facts, on the demo graph on 2 CPU cores (README, 'Entities ingested after "
                                  "training').")
    ultra_checkpoint: Path = Field(SHIPPED / "ultra" / "ultra_3g.pt",
                                   description="ULTRA weights the graph model reasons with (`kgrel kg eval-lp --gnn "
                                               "ultra`, /kg/predict-links): the shipped ultra_3g by default.")
    train_memory_mb: int | None = Field(
        None, ge=1, description="Memory one graph-model training step may use, in MiB (default: half of what is "
                                "available when the job starts; on a GPU, half of its free memory). ULTRA's batch "
                                "is cut to fit; a graph where one triple per step does not fit is refused.")
    demo_graph: Path = Field(SHIPPED / "demo_graph.nt.gz", description="Graph loaded by --load-demo.")
    load_demo: bool = Field(False, description="Load the demo graph into an empty store at start-up.")

    @field_validator("api_key", "read_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value):
        # KGREL_API_KEY= (set but empty) means no key, not a key nobody can send.
        return None if value in ("", None) else value

    def store_location(self) -> str:
        return self.store or str(self.data_dir / "store")

    def model_location(self) -> str | None:
        """The relation model folder to load; None means the untrained packaged encoder."""
        if self.model in ("untrained", "none", ""):
            return None
        if self.model:
            return self.model
        shipped = SHIPPED / "models" / "kgrel-minilm"
        if shipped.exists() and self.encoder is None:
            return str(shipped)
        return str(SHIPPED / "models" / "minilm-untrained")
