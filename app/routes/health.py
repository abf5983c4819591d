"""Liveness: store reachable, model loaded, and where it runs."""

from fastapi import APIRouter

from kgrel.app.deps import ServiceDep
from kgrel.app.schemas.health import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health(service: ServiceDep) -> HealthOut:
    """Store reachable, model loaded, and the device it runs on."""
    return HealthOut(**service.health())
