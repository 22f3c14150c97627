"""``POST /v1/systems/{system_id}/messages``: a registered system hands the hub a message."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from hub.api.auth import caller
from hub.api.problems import Problem, problem
from hub.bootstrap import Hub
from hub.intake import Quarantined
from hub.store.tables import ConnectedSystem

UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="hub"'}


class AcceptedResponse(BaseModel):
    tracking_id: str
    duplicate: bool
    status_url: str


async def read_limited(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, read no further than one byte past the limit; and whether it was over."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), True
    return b"".join(chunks), False


def router(hub: Hub) -> APIRouter:
    api = APIRouter(tags=["inbound"])

    @api.post(
        "/v1/systems/{system_id}/messages", status_code=202, response_model=AcceptedResponse,
        responses={code: {"model": Problem} for code in (400, 401, 403, 413, 415, 422)},
        summary="Submit a message from a registered system",
        description="The body is the system's own format (a CAF system sends XML). "
        "202 means the message is stored durably and queued; resubmitting the same source "
        "message id returns the original tracking id.",
    )
    async def submit(system_id: str, request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if not isinstance(who, ConnectedSystem):
            return problem(401, "a registered system's bearer token is required",
                           rule="auth.bearer", field="Authorization", headers=UNAUTHORISED)
        if who.system_id != system_id:
            return problem(403, f"this token belongs to {who.system_id}, not {system_id}",
                           rule="auth.system", field="system_id")
        body, oversize = await read_limited(request, hub.settings.max_body_bytes)
        content_type = request.headers.get("content-type", "")
        try:
            accepted = await run_in_threadpool(hub.intake.accept, who, body, content_type, oversize)
        except Quarantined as refused:
            rejection = refused.rejection
            return problem(rejection.status, rejection.detail, rule=rejection.rule,
                           field=rejection.field, quarantine_id=refused.quarantine_id)
        payload = AcceptedResponse(
            tracking_id=accepted.message_id, duplicate=accepted.duplicate,
            status_url=f"/v1/messages/{accepted.message_id}",
        )
        return JSONResponse(payload.model_dump(), status_code=202)

    return api
