"""Client errors become 4xx responses that name the problem; nothing a client sends gives a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kgrel.app.services.embeddings import NoEmbeddings
from kgrel.app.services.graph import QueriesBusy
from kgrel.app.services.jobs import JobBusy
from kgrel.app.services.labelling import DecisionConflict
from kgrel.kg.entities import EntityExists
from kgrel.kg.errors import (
    InputTooLarge,
    InvalidIdentifier,
    KGError,
    NotFound,
    RDFSyntaxError,
    SparqlError,
    StoreUnavailable,
    UnsafeInput,
    UnsupportedFormat,
)
from kgrel.kg.federation import ServiceRefused
from kgrel.kg.ingest import LiteralsRewritten
from kgrel.kg.isolation import Cancelled, OutOfMemory, TimedOut, WorkFailed
from kgrel.kg.relations import RelationExists
from kgrel.kg.sparql import NotAcceptable, ResultTooLarge
from kgrel.models.relation.adaptation import CannotAdapt
from kgrel.models.relation.calibration_fitting import CannotCalibrate
from kgrel.models.relation.instances import InvalidInstance

log = logging.getLogger(__name__)

# Most specific first: the first matching class decides the status.
STATUS = [
    (RDFSyntaxError, 400),
    (UnsafeInput, 400),
    (InputTooLarge, 413),
    (LiteralsRewritten, 422),
    (UnsupportedFormat, 415),
    (NotAcceptable, 406),
    (ServiceRefused, 403),
    (ResultTooLarge, 422),
    (TimedOut, 503),
    (WorkFailed, 503),
    (OutOfMemory, 422),
    (Cancelled, 499),
    (QueriesBusy, 503),
    (SparqlError, 400),
    (InvalidIdentifier, 422),
    (NotFound, 404),
    (RelationExists, 409),
    (EntityExists, 409),
    (JobBusy, 409),
    (DecisionConflict, 409),
    (CannotAdapt, 409),
    (CannotCalibrate, 409),
    (NoEmbeddings, 409),
    (StoreUnavailable, 503),
    (KGError, 400),
    (InvalidInstance, 422),
]


class BatchItemError(Exception):
    """An error in item `index` of a batch request."""

    def __init__(self, index: int, error: Exception):
        self.index = index
        self.error = error
        super().__init__(f"item {index}: {error}")


def status_for(error: Exception) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 500


def install(app: FastAPI) -> None:
    async def known_error(request: Request, exc: Exception) -> JSONResponse:
        inner = exc.error if isinstance(exc, BatchItemError) else exc
        body: dict = {"detail": str(exc)}
        if isinstance(inner, RDFSyntaxError):
            body.update(line=inner.line, column=inner.column)
        retry = getattr(inner, "retry_after_s", None)
        return JSONResponse(status_code=status_for(inner), content=body,
                            headers={"Retry-After": str(retry)} if retry else None)

    for cls in (KGError, InvalidInstance, BatchItemError, JobBusy, CannotAdapt, CannotCalibrate, QueriesBusy,
                DecisionConflict):
        app.add_exception_handler(cls, known_error)

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Pydantic's list of problems, flattened into one readable sentence plus the details.
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {err.get('msg')}")
        return JSONResponse(status_code=422, content={"detail": "; ".join(problems[:10]),
                                                      "errors": jsonable(exc.errors())})

    app.add_exception_handler(RequestValidationError, validation_error)


def jsonable(errors: list) -> list:
    out = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("type", "loc", "msg")}
        out.append(item)
    return out
