"""Liveness: store reachable, model loaded, and where it runs."""

from fastapi import APIRouter, Request

from kgrel.app.deps import ServiceDep
from kgrel.app.schemas.health import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health(request: Request, service: ServiceDep) -> HealthOut:
    """Store reachable, model loaded, and the device it runs on. Where the store, model and encoder
    live (file paths, endpoint URLs) is shown only to callers with a key, since /health is public."""
    report = service.health()
    if request.scope.get("kgrel.role") is None:
        for private in ("store", "model", "encoder"):
            report.pop(private)
    return HealthOut(**report)
