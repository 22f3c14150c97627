"""The FastAPI application, built around one wired ``Hub``; and the application of one API
process of ``hub serve --processes N``, which wires a hub of its own."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DBAPIError

from hub.api import consent, dead_letters, health, inbound, status
from hub.api.problems import problem
from hub.bootstrap import Hub, bootstrap
from hub.console.app import MOUNT as CONSOLE
from hub.console.app import create_console
from hub.metrics import process_ended
from hub.settings import Settings

log = logging.getLogger(__name__)


def create_app(hub: Hub, lifespan: Any = None) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="Children's services interoperability hub",
        version="0.1.0",
        description="Accepts messages from registered case systems, CAF systems and partner "
        "agencies, decides what each destination may receive, and delivers it reliably.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        return problem(422, first.get("msg", "invalid request"), rule=first.get("type"), field=field)

    @app.exception_handler(DBAPIError)
    async def store_away(_request: Request, _error: DBAPIError) -> JSONResponse:
        # nothing was accepted: the caller sends the same message again later (the same source
        # message id is answered with the same tracking id if it did get stored)
        return problem(503, "the hub's store is not answering; send the message again shortly",
                       rule="store.available", headers={"Retry-After": "5"})

    app.include_router(inbound.router(hub))
    app.include_router(status.router(hub))
    app.include_router(health.router(hub))
    app.include_router(consent.router(hub))
    app.include_router(dead_letters.router(hub))
    app.mount(CONSOLE, create_console(hub))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE}/", status_code=307)

    return app


def api_process_app() -> FastAPI:
    """The app of one of ``hub serve``'s API processes (uvicorn calls it in each): a hub of its
    own from the ``HUB_*`` environment, closed (outbox relay, publisher, store) when the process
    shuts down. The supervising process has already upgraded the schema."""
    hub = bootstrap(Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("API process %d serving", os.getpid())
        try:
            yield
        finally:
            hub.close()
            process_ended()
            log.info("API process %d stopped; its hub closed", os.getpid())

    return create_app(hub, lifespan)
