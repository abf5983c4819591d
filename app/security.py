"""API keys, checked before anything else reads the request.

An ASGI middleware rather than a route dependency: a dependency runs after the body has been
buffered and parsed, so a client without a key could make the server hold large bodies and get
422s for bad JSON. Here a request without the right key is answered 401 (or 403) unread.

Two roles: the write key (`KGREL_API_KEY`) may do everything; the read key (`KGREL_READ_KEY`) may
read and compute but not change the graph, so a dashboard can query without being able to write.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs

from pydantic import SecretStr

# Paths anyone may read: liveness, the API description and the labelling page (whose calls carry the key).
PUBLIC_PREFIXES = ("/ui", "/docs", "/redoc", "/openapi.json", "/static-docs")
PUBLIC_PATHS = ("/", "/health", "/favicon.ico")
# POST routes that read the graph and compute, never write it.
READ_POSTS = ("/graph/sparql", "/predict", "/extract")


def key_from_headers(headers: dict[bytes, bytes]) -> str | None:
    """The key sent in X-API-Key, or as Authorization: Bearer."""
    given = headers.get(b"x-api-key")
    if given is not None:
        return given.decode("latin-1")
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def _matches(given: str | None, expected: SecretStr | None) -> bool:
    return bool(given) and expected is not None and secrets.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.get_secret_value().encode())


def role_of(headers: dict[bytes, bytes], write_key: SecretStr | None, read_key: SecretStr | None) -> str | None:
    """'write', 'read' or None (no valid key). With no key configured at all, everyone may write."""
    if write_key is None and read_key is None:
        return "write"
    given = key_from_headers(headers)
    if _matches(given, write_key):
        return "write"
    if _matches(given, read_key):
        return "read"
    return None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def needs_write(method: str, path: str, query_string: bytes) -> bool:
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    if method == "POST" and path in READ_POSTS:
        if path == "/extract":  # ?ingest=true writes the facts into the graph
            values = parse_qs(query_string.decode("latin-1")).get("ingest", [])
            return any(v.lower() in ("1", "true", "yes", "on") for v in values)
        return False
    return True


class ApiKeys:
    """Refuse requests without a key fit for what they do: 401 without a valid key, 403 with the read
    key on a write. The role is left in scope["kgrel.role"] for the routes."""

    def __init__(self, app, write_key: SecretStr | None, read_key: SecretStr | None):
        self.app = app
        self.write_key = write_key
        self.read_key = read_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        role = role_of(headers, self.write_key, self.read_key)
        scope["kgrel.role"] = role
        path = scope.get("path", "")
        if is_public(path):
            return await self.app(scope, receive, send)
        if role is None:
            sent = key_from_headers(headers) is not None
            return await _refuse(send, 401, "wrong API key" if sent else
                                 "this server needs an API key: send it in the X-API-Key header "
                                 "(or Authorization: Bearer), or enter it in the page's key field")
        if role == "read" and needs_write(scope["method"], path, scope.get("query_string", b"")):
            return await _refuse(send, 403, f"the read key cannot change the graph ({scope['method']} {path}); "
                                            "use the write key (KGREL_API_KEY)")
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
