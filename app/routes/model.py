"""The relation model: which one serves, adapting or recalibrating it to the store's examples, switching back."""

from fastapi import APIRouter, status

from kgrel.app.deps import JobsDep, ModelDep, PredictionsDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.jobs import JobOut, JobStarted
from kgrel.app.schemas.model import AdaptIn, CalibrateIn, ModelOut, SelectIn, ThresholdOut
from kgrel.models.relation.adaptation import AdaptConfig

router = APIRouter(prefix="/model", tags=["relation model"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


@router.get("", response_model=list[ModelOut])
def list_models(model: ModelDep) -> list[dict]:
    """The base model and every adapted one; `active` marks the one serving."""
    return model.models()


@router.get("/threshold", response_model=ThresholdOut)
def threshold(predictions: PredictionsDep) -> ThresholdOut:
    """The none-of-the-above threshold serving now: the model's calibrated operating point, learnt on documents
    where most pairs state no relation, at every number of examples (a request's own `threshold` wins)."""
    threshold = predictions.threshold()
    return ThresholdOut(serving=threshold, model=predictions.model.config.nota_threshold)


@router.post("/select", response_model=ModelOut, responses=ERRORS)
def select_model(body: SelectIn, model: ModelDep) -> dict:
    """Serve another model from the next request on (and after a restart); 'base' switches back."""
    return model.select(body.name)


@router.post("/adapt", status_code=status.HTTP_202_ACCEPTED, response_model=JobStarted, responses=ERRORS)
def adapt(model: ModelDep, body: AdaptIn | None = None) -> JobStarted:
    """Fine-tune the serving model on the examples in the store, in the background.

    Relations are split into training and held-out validation relations; the adapted model replaces
    the serving one only if it scores at least as well on the held-out relations. The previous model
    stays listed and selectable.
    """
    body = body or AdaptIn()
    job = model.start_adapt(AdaptConfig(steps=body.steps, train_layers=body.train_layers,
                                                 validation_share=body.validation_share, seed=body.seed,
                                                 force=body.force))
    return JobStarted(job=job.id, status=job.status, status_url=f"/model/adapt/{job.id}")


@router.get("/adapt/{job_id}", response_model=JobOut, responses=ERRORS)
def adapt_status(job_id: str, jobs: JobsDep) -> JobOut:
    """Status and, when done, validation before and after and whether the adapted model now serves."""
    return JobOut(**jobs.of_kind(job_id, "model-adapt", "adapt").as_dict())


@router.post("/calibrate", status_code=status.HTTP_202_ACCEPTED, response_model=JobStarted, responses=ERRORS)
def calibrate(model: ModelDep, body: CalibrateIn | None = None) -> JobStarted:
    """Refit the serving model's calibration on the examples in the store, in the background, and serve it.

    Nothing is trained: the relations rank as before, but a score now says how often the top answer is
    right on *your* text, so none-of-the-above holds on text unlike the text the model was calibrated on
    (biomedical, news). Needs examples of at least 3 relations; 2 or more per relation also fit the
    one-shot scores. The previous model stays listed and selectable.
    """
    body = body or CalibrateIn()
    job = model.start_recalibrate(seed=body.seed)
    return JobStarted(job=job.id, status=job.status, status_url=f"/model/calibrate/{job.id}")


@router.get("/calibrate/{job_id}", response_model=JobOut, responses=ERRORS)
def calibrate_status(job_id: str, jobs: JobsDep) -> JobOut:
    """Status and, when done, the calibration before and after and the model that now serves."""
    return JobOut(**jobs.of_kind(job_id, "model-calibrate", "calibrate").as_dict())
