"""`kgrel serve`: the REST API under uvicorn."""

from __future__ import annotations

import logging

from kgrel.app.cli.common import add_common, settings_from


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve the REST API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
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
    # kgrel logs each request itself (kgrel.access: JSON with the request id), so uvicorn's access log is off.
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info", access_log=False)
    return 0
