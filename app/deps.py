"""Dependencies injected into routes: the service object (as a typed alias) and the API-key check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from kgrel.app.services import KgrelService


def get_service(request: Request) -> KgrelService:
    return request.app.state.service


ServiceDep = Annotated[KgrelService, Depends(get_service)]


def require_api_key(request: Request, service: ServiceDep) -> None:
    """When an API key is configured, the request must carry it (X-API-Key or Authorization: Bearer)."""
    expected = service.settings.api_key
    if expected is None:
        return
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not secrets.compare_digest(given, expected.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or wrong API key: send it in X-API-Key",
                            headers={"WWW-Authenticate": "Bearer"})
