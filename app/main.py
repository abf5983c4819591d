"""The FastAPI application: routes, error handlers, limits, and the service made in the lifespan."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from kgrel.app import docs_pages, errors
from kgrel.app.config import Settings
from kgrel.app.limits import BodySizeLimit
from kgrel.app.observability import Metrics, RequestLog
from kgrel.app.routes import extract, graph, health, kg, predict, relations, sessions
from kgrel.app.routes import model as model_routes
from kgrel.app.security import ApiKeys
from kgrel.app.services import KgrelService
from kgrel.models.relation.model import RelationModel

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None, model: RelationModel | None = None) -> FastAPI:
    """An app over `settings`; a loaded `model` can be shared between apps (tests, notebooks)."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = KgrelService(settings, model=model, metrics=metrics)
        if settings.load_demo:
            service.graph.load_demo_if_empty()
        service.predictions.state()  # encode relation side information once, before the first request
        # What start-up built lives as long as the server: keep the garbage collector off it. Client SPARQL
        # queries run in forked children, and a collection that walks these objects after a fork would
        # take a copy-on-write fault on every page it touches.
        gc.collect()
        gc.freeze()
        app.state.service = service
        log.info("kgrel ready: store %s, device %s", service.graph.store.description,
                 service.predictions.model.device)
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="kgrel", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Knowledge-graph-augmented zero- and few-shot relation extraction.")
    errors.install(app)
    docs_pages.install(app)
    app.include_router(health.router)
    for module in (graph, relations, predict, extract, sessions, kg, model_routes):
        app.include_router(module.router)
    # The last added runs first: keys are checked before a byte of the body is read, and every request,
    # refused ones included, is counted and logged with its id.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeys, write_key=settings.api_key, read_key=settings.read_key)
    app.add_middleware(RequestLog, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus text format: requests per route and status, latencies, in flight, model and store time."""
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)

    # The labelling page: static files, no build step; its API calls carry the key, the page needs none.
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/ui/")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    return app
