"""Liveness, readiness (store and broker reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from hub.bootstrap import Hub
from hub.metrics import exposition


def check_store(hub: Hub) -> str | None:
    try:
        with hub.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return type(error).__name__
    return None


def check_broker(hub: Hub) -> str | None:
    try:
        with hub.broker.connect() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as error:
        return type(error).__name__
    return None


def router(hub: Hub) -> APIRouter:
    api = APIRouter(tags=["operations"])

    @api.get("/health/live", summary="The process is up")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/health/ready", summary="The store and the broker answer")
    async def ready() -> JSONResponse:
        store = await run_in_threadpool(check_store, hub)
        broker = await run_in_threadpool(check_broker, hub)
        ok = store is None and broker is None
        return JSONResponse(
            {"status": "ready" if ok else "unavailable",
             "store": store or "ok", "broker": broker or "ok"},
            status_code=200 if ok else 503,
        )

    @api.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(exposition(hub), media_type=CONTENT_TYPE_LATEST)

    return api
