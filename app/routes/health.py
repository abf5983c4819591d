from fastapi import APIRouter, Depends

from app.deps import get_service
from app.service import KgrelService

router = APIRouter(tags=["health"])


@router.get("/health")
def health(service: KgrelService = Depends(get_service)) -> dict:
    """Store reachable, model loaded, and the device it runs on."""
    return service.health()
