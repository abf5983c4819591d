"""Request and response bodies of the REST API, one module per resource (named like its route module)."""

from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str
