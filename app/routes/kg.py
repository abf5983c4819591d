"""Knowledge-graph embeddings: background training, similar entities, link prediction."""

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from app.deps import get_service
from app.schemas import ErrorOut
from app.service import KgrelService
from kg.errors import NotFound
from models.link_prediction import LPConfig

router = APIRouter(prefix="/kg", tags=["knowledge graph"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    graph: str | None = Field(None, description="Named graph to learn from (IRI or CURIE); all graphs when absent.")
    decoder: str = Field("complex", pattern="^(complex|distmult)$")
    encoder: str = Field("none", pattern="^(none|rgcn)$", description="none: shallow embeddings; rgcn: R-GCN encoder")
    rank: int = Field(128, ge=4, le=2048)
    epochs: int = Field(50, ge=1, le=10000)
    time_limit_s: float | None = Field(900, gt=0, description="Stop training after this many seconds.")


class EntityScore(BaseModel):
    entity: str
    curie: str
    label: str | None = None
    score: float


class LinkScore(EntityScore):
    in_graph: bool = Field(description="The fact is already in the graph.")


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, responses=ERRORS)
def train(body: TrainIn | None = None, service: KgrelService = Depends(get_service)) -> dict:
    """Start training graph embeddings in the background; the service keeps answering meanwhile."""
    body = body or TrainIn()
    config = LPConfig(decoder=body.decoder, encoder=body.encoder, rank=body.rank, epochs=body.epochs,
                      time_limit_s=body.time_limit_s)
    job = service.start_kg_training(body.graph, config)
    return {"job": job.id, "status": job.status, "status_url": f"/kg/train/{job.id}"}


@router.get("/train/{job_id}", responses=ERRORS)
def train_status(job_id: str, service: KgrelService = Depends(get_service)) -> dict:
    """Status (queued, running, done, failed), progress (epoch, loss) and, when done, the result."""
    job = service.jobs.get(job_id)
    if job is None or job.kind != "kg-train":
        raise NotFound(f"no training job {job_id}")
    return job.as_dict()


def _scores(service: KgrelService, pairs) -> list[dict]:
    labels = service.labels([p[0] for p in pairs])
    return [{"entity": e, "curie": service.curie(e), "label": labels.get(e), "score": s, **extra}
            for e, s, *rest in pairs for extra in [({"in_graph": rest[0]} if rest else {})]]


@router.get("/entities/{entity_id:path}/similar", response_model=list[EntityScore], responses=ERRORS)
def similar(entity_id: str, k: int = Query(10, ge=1, le=1000),
            service: KgrelService = Depends(get_service)) -> list[dict]:
    """Nearest entities by embedding; an entity added after training is embedded from its neighbours."""
    return _scores(service, service.similar_entities(entity_id, k))


@router.get("/predict-links", response_model=list[LinkScore], responses=ERRORS)
def predict_links(head: str = Query(..., description="IRI or CURIE of the head entity"),
                  relation: str = Query(..., description="IRI or CURIE of the relation"),
                  k: int = Query(10, ge=1, le=1000), service: KgrelService = Depends(get_service)) -> list[dict]:
    """The k most plausible tails of (head, relation) according to the graph embeddings."""
    _, _, tails = service.predict_links(head, relation, k)
    return _scores(service, tails)
