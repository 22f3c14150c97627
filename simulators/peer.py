"""The common shape of a simulated system: receive, remember, deduplicate, fail on request.

A peer honours ``Idempotency-Key`` as a real partner API would: the first request with a key is
applied (kept in ``received``, the peer's own record of applied effects) and any later request
with the same key is answered "already applied" and changes nothing. It counts every request and
every repeat, so a test can tell "sent twice" (fine) from "applied twice" (a duplicate effect).

Faults are planned for the next ``count`` requests (``POST /_control/faults`` or ``plan``):
``status`` answers with an HTTP error (500 by default) and applies nothing; ``timeout`` holds the
request for ``delay`` seconds and applies nothing (the hub's timeout fires first); ``drop``
applies the request and then holds the answer for ``delay`` seconds, so the caller never learns
that it was applied. Connection refused is the server not listening (``ServerThread.stop``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

FaultMode = Literal["status", "timeout", "drop"]


class FaultPlan(BaseModel):
    """Fail the next ``count`` requests: with ``status``, by hanging, or by dropping the answer."""

    count: int = Field(ge=0)
    status: int = Field(500, ge=400, le=599)
    mode: FaultMode = "status"
    delay: float = Field(2.0, ge=0, le=120)


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
    failure_mode: FaultMode = "status"
    failure_delay: float = 2.0
    seen_keys: set[str] = field(default_factory=set)
    repeats: Counter[str] = field(default_factory=Counter)  # requests per key after the first applied
    failed: Counter[str] = field(default_factory=Counter)  # planned faults served, by mode
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, plan: FaultPlan) -> None:
        with self.lock:
            self.failures_left, self.failure_status = plan.count, plan.status
            self.failure_mode, self.failure_delay = plan.mode, plan.delay

    def applied(self) -> list[Received]:
        """The effects applied, in order: one per idempotency key (or per keyless request)."""
        with self.lock:
            return list(self.received)


def _decode(content_type: str, raw: bytes) -> Any:
    if "json" in content_type:
        return json.loads(raw)
    return raw.decode()


def peer_app(title: str, state: PeerState) -> FastAPI:
    app = FastAPI(title=title)

    @app.post("/_control/faults")
    def plan_faults(plan: FaultPlan) -> dict[str, int]:
        state.plan(plan)
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
            fault: FaultMode | None = None
            if state.failures_left > 0:
                state.failures_left -= 1
                fault = state.failure_mode
                state.failed[fault] += 1
            status, delay = state.failure_status, state.failure_delay
            if fault == "status":
                return JSONResponse({"error": "simulated failure"}, status_code=status)
            if fault != "timeout":
                answer = _apply(state, path, key, request, raw)
        if fault is not None:
            await asyncio.sleep(delay)  # the caller's timeout fires first; it never learns the outcome
            return JSONResponse({"error": "simulated hang"}, status_code=504)
        return answer

    return app


def _apply(state: PeerState, path: str, key: str | None, request: Request, raw: bytes) -> JSONResponse:
    """Apply the request once per key (the caller holds the state's lock)."""
    if key is not None and key in state.seen_keys:
        state.repeats[key] += 1
        return JSONResponse({"status": "already applied"}, status_code=200)
    if key is not None:
        state.seen_keys.add(key)
    content_type = request.headers.get("content-type", "")
    state.received.append(Received(
        path=f"/{path}", idempotency_key=key, message_id=request.headers.get("x-hub-message-id"),
        content_type=content_type, body=_decode(content_type, raw),
    ))
    return JSONResponse({"status": "applied"}, status_code=201)
