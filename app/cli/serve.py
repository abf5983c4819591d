"""`kgrel serve`: the REST API under uvicorn, in one process or in several workers over one SPARQL server."""

from __future__ import annotations

import logging
import os

from kgrel.app.cli.common import add_common, fail, settings_from


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve the REST API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (more than one needs a SPARQL server as the store: --store URL)")
    p.add_argument("--load-demo", action="store_true", help="load the bundled demo graph into an empty store")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import uvicorn

    from kgrel.app.main import create_app

    settings = settings_from(args)
    if args.load_demo:
        settings.load_demo = True
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per store request otherwise
    # kgrel logs each request itself (kgrel.access: JSON with the request id), so uvicorn's access log is off.
    options = {"host": args.host, "port": args.port, "log_level": "info", "access_log": False}
    if args.workers <= 1:
        problem = _store_problem(settings)
        if problem:  # one clear line, not uvicorn's traceback of a failed start-up
            return fail(problem)
        uvicorn.run(create_app(settings), **options)
        return 0
    if not settings.store_location().startswith(("http://", "https://")):
        return fail("--workers above 1 needs a SPARQL server as the store (--store URL, or KGREL_STORE): an "
                    "embedded store is opened by one process only")
    if settings.load_demo:  # once, here, rather than once per worker
        from kgrel.app.services.graph import GraphService

        graph = GraphService(settings)
        try:
            graph.load_demo_if_empty()
        finally:
            graph.close()
    # Each worker process builds its app from the environment; the flags given here travel in it.
    for name, value in settings_from(args).model_dump(exclude_unset=True).items():
        os.environ[f"KGREL_{name.upper()}"] = str(value)
    os.environ["KGREL_LOAD_DEMO"] = "false"
    uvicorn.run("kgrel.app.main:create_app", factory=True, workers=args.workers, **options)
    return 0


def _store_problem(settings) -> str | None:
    """Why the store cannot be opened (another process holds the embedded one), checked before serving."""
    from kgrel.kg.errors import KGError
    from kgrel.kg.store import open_store

    if settings.store_location().startswith(("http://", "https://")):
        return None  # a server's reachability shows in /health; start-up does not depend on it
    try:
        open_store(settings.store_location()).close()
    except KGError as e:
        return str(e)
    return None
