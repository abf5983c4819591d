"""Relation classification between two mentions of a sentence."""

from fastapi import APIRouter, Body

from kgrel.app.deps import GraphDep, PredictionsDep, SettingsDep
from kgrel.app.errors import BatchItemError
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.predict import PredictIn, PredictionOut, PredictOut
from kgrel.app.services import PredictRequest
from kgrel.models.relation.instances import InvalidInstance

router = APIRouter(tags=["predict"])


@router.post("/predict", response_model=PredictOut | list[PredictOut],
             responses={422: {"model": ErrorOut}, 413: {"model": ErrorOut}})
def predict(predictions: PredictionsDep, graph: GraphDep, settings: SettingsDep,
            body: PredictIn | list[PredictIn] = Body(...)) -> PredictOut | list[PredictOut]:
    """Ranked relations with calibrated scores, and whether the answer is none of the above.

    Send one item or a list (answered in order). Zero-shot relations are scored from their side
    information; relations with examples from both.
    """
    items = body if isinstance(body, list) else [body]
    if len(items) > settings.max_batch:
        raise InvalidInstance(f"{len(items)} items in one request; at most {settings.max_batch} "
                              "(KGREL_MAX_BATCH)")
    requests = []
    for i, item in enumerate(items):
        try:
            requests.append(PredictRequest(item.to_instance(graph.iri), item.candidates, item.top_k,
                                           item.threshold))
        except InvalidInstance as e:
            raise BatchItemError(i, e) from None
    results = predictions.predict(requests)
    curie = graph.curie
    out = [PredictOut(predictions=[PredictionOut(relation=p.relation, curie=curie(p.relation), label=p.label,
                                                 score=p.score, reversed=p.reversed) for p in r.predictions],
                      none_of_the_above=r.none_of_the_above) for r in results]
    return out if isinstance(body, list) else out[0]
