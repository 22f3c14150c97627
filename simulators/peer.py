"""The common shape of a simulated system: receive, remember, deduplicate, fail on request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class FaultPlan(BaseModel):
    """Fail the next ``count`` requests with ``status``."""

    count: int
    status: int = 500


@dataclass
class Received:
    path: str
    idempotency_key: str | None
    message_id: str | None
    content_type: str
    body: Any


@dataclass
class PeerState:
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    failures_left: int = 0
    failure_status: int = 500
    seen_keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _decode(content_type: str, raw: bytes) -> Any:
    if "json" in content_type:
        return json.loads(raw)
    return raw.decode()


def peer_app(title: str, state: PeerState) -> FastAPI:
    app = FastAPI(title=title)

    @app.post("/_control/faults")
    def plan_faults(plan: FaultPlan) -> dict[str, int]:
        with state.lock:
            state.failures_left, state.failure_status = plan.count, plan.status
        return {"failures_left": plan.count}

    @app.get("/_control/received")
    def received() -> list[dict[str, Any]]:
        with state.lock:
            return [item.__dict__ for item in state.received]

    @app.post("/{path:path}")
    async def receive(path: str, request: Request) -> JSONResponse:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        with state.lock:
            state.requests += 1
            if state.failures_left > 0:
                state.failures_left -= 1
                return JSONResponse({"error": "simulated failure"}, status_code=state.failure_status)
            if key is not None and key in state.seen_keys:
                return JSONResponse({"status": "already applied"}, status_code=200)
            if key is not None:
                state.seen_keys.add(key)
            content_type = request.headers.get("content-type", "")
            state.received.append(Received(
                path=f"/{path}", idempotency_key=key,
                message_id=request.headers.get("x-hub-message-id"), content_type=content_type,
                body=_decode(content_type, raw),
            ))
        return JSONResponse({"status": "applied"}, status_code=201)

    return app
