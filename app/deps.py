"""Dependencies injected into routes: the service object, as a typed alias. (API keys: `security`.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kgrel.app.services import KgrelService


def get_service(request: Request) -> KgrelService:
    service = request.app.state.service
    service.sync()  # over a store other workers share: see their writes (one stamp read; nothing alone)
    return service


ServiceDep = Annotated[KgrelService, Depends(get_service)]
