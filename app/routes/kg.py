"""Knowledge-graph embeddings: background training, similar entities, link prediction."""

from fastapi import APIRouter, Query, status

from kgrel.app.deps import EmbeddingsDep, GraphDep, JobsDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.jobs import JobOut, JobStarted
from kgrel.app.schemas.kg import EntityScore, LinkScore, TrainIn

router = APIRouter(prefix="/kg", tags=["knowledge graph"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, response_model=JobStarted, responses=ERRORS)
def train(embeddings: EmbeddingsDep, body: TrainIn | None = None) -> JobStarted:
    """Start training graph embeddings in the background; the service keeps answering meanwhile."""
    body = body or TrainIn()
    if body.encoder == "ultra":
        job = embeddings.start_ultra_training(body.graph, epochs=body.epochs,
                                                      checkpoint=body.checkpoint,
                                                      time_limit_s=body.time_limit_s)
        return JobStarted(job=job.id, status=job.status, status_url=f"/kg/train/{job.id}")
    job = embeddings.start_training(body.graph, decoder=body.decoder, encoder=body.encoder, rank=body.rank,
                                            epochs=body.epochs, time_limit_s=body.time_limit_s)
    return JobStarted(job=job.id, status=job.status, status_url=f"/kg/train/{job.id}")


@router.get("/train/{job_id}", response_model=JobOut, responses=ERRORS)
def train_status(job_id: str, jobs: JobsDep) -> JobOut:
    """Status (queued, running, done, failed), progress (epoch, loss) and, when done, the result."""
    return JobOut(**jobs.of_kind(job_id, "kg-train", "training").as_dict())


def _scores(graph: GraphDep, pairs: list[tuple]) -> list[dict]:
    labels = graph.labels([p[0] for p in pairs])
    return [{"entity": e, "curie": graph.curie(e), "label": labels.get(e), "score": s, **extra}
            for e, s, *rest in pairs for extra in [({"in_graph": rest[0]} if rest else {})]]


@router.get("/entities/{entity_id:path}/similar", response_model=list[EntityScore], responses=ERRORS)
def similar(entity_id: str, graph: GraphDep, embeddings: EmbeddingsDep,
            k: int = Query(10, ge=1, le=1000)) -> list[dict]:
    """Nearest entities by embedding; an entity added after training is embedded from its neighbours."""
    return _scores(graph, embeddings.similar_entities(entity_id, k))


@router.get("/predict-links", response_model=list[LinkScore], responses=ERRORS)
def predict_links(graph: GraphDep, embeddings: EmbeddingsDep,
                  head: str = Query(..., description="IRI or CURIE of the head entity"),
                  relation: str = Query(..., description="IRI or CURIE of the relation"),
                  k: int = Query(10, ge=1, le=1000)) -> list[dict]:
    """The k most plausible tails of (head, relation) according to the graph embeddings."""
    return _scores(graph, embeddings.predict_links(head, relation, k))
