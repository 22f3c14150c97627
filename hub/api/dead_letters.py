"""``/v1/dead-letters``: operators list, inspect and replay what the hub gave up on.

The same as ``hub deadletters``: identifiers, reasons and attempts, never the personal data.
Replaying decides again before anything is sent, and is audited as ``operator:api``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from hub import dead_letters
from hub.api.auth import OPERATOR, caller
from hub.api.problems import Problem, problem
from hub.bootstrap import Hub

API_ACTOR = "operator:api"
UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="hub"'}


class DeadLetterSummary(BaseModel):
    dead_letter_id: str
    kind: str
    message_id: str
    destination: str | None
    message_type: str
    reason: str
    attempts: int
    dead_at: datetime | None


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeadLetterDetail(DeadLetterSummary):
    source_system: str
    correlation_id: str
    received_at: datetime
    attempt_log: list[AttemptOut]


class Replayed(BaseModel):
    dead_letter_id: str
    requeued: str
    status_url: str


def _summary(letter: dead_letters.Letter) -> DeadLetterSummary:
    return DeadLetterSummary(**letter.__dict__)


def _detail(detail: dead_letters.LetterDetail) -> DeadLetterDetail:
    return DeadLetterDetail(
        **detail.letter.__dict__, source_system=detail.source_system,
        correlation_id=detail.correlation_id, received_at=detail.received_at,
        attempt_log=[AttemptOut(**attempt.__dict__) for attempt in detail.attempt_log],
    )


def router(hub: Hub) -> APIRouter:
    api = APIRouter(tags=["dead letters"])
    refusals = {401: {"model": Problem}, 403: {"model": Problem}}

    def operator_only(request: Request) -> JSONResponse | None:
        who = caller(hub, request)
        if who is None:
            return problem(401, "a bearer token is required", rule="auth.bearer", field="Authorization",
                           headers=UNAUTHORISED)
        if who != OPERATOR:
            return problem(403, "only an operator may see or replay dead letters", rule="auth.operator",
                           field="Authorization")
        return None

    @api.get("/v1/dead-letters", response_model=list[DeadLetterSummary], responses=refusals,
             summary="Dead letters waiting", description="Deliveries given up on and inbound "
             "messages set aside (failed, or poison after too many attempts), oldest first.")
    async def list_letters(request: Request) -> JSONResponse:
        refused = await run_in_threadpool(operator_only, request)
        if refused is not None:
            return refused

        def load() -> list[DeadLetterSummary]:
            with hub.database.read() as session:
                return [_summary(letter) for letter in dead_letters.waiting(session)]

        letters = await run_in_threadpool(load)
        return JSONResponse([letter.model_dump(mode="json") for letter in letters])

    @api.get("/v1/dead-letters/{dead_letter_id}", response_model=DeadLetterDetail,
             responses={**refusals, 404: {"model": Problem}}, summary="One dead letter and its attempts")
    async def show_letter(dead_letter_id: str, request: Request) -> JSONResponse:
        refused = await run_in_threadpool(operator_only, request)
        if refused is not None:
            return refused

        def load() -> DeadLetterDetail | None:
            with hub.database.read() as session:
                try:
                    return _detail(dead_letters.show(session, dead_letter_id))
                except LookupError:
                    return None

        found = await run_in_threadpool(load)
        if found is None:
            return problem(404, f"no dead letter {dead_letter_id}", rule="dead-letter.exists",
                           field="dead_letter_id")
        return JSONResponse(found.model_dump(mode="json"))

    @api.post("/v1/dead-letters/{dead_letter_id}/replay", status_code=202, response_model=Replayed,
              responses={**refusals, 404: {"model": Problem}}, summary="Replay a dead letter",
              description="The delivery goes back on its queue (or the inbound message is processed "
              "afresh); the sharing decision is taken again before anything is sent.")
    async def replay_letter(dead_letter_id: str, request: Request) -> JSONResponse:
        refused = await run_in_threadpool(operator_only, request)
        if refused is not None:
            return refused
        try:
            requeued = await run_in_threadpool(dead_letters.replay, hub, dead_letter_id, API_ACTOR)
        except LookupError as error:
            return problem(404, str(error), rule="dead-letter.replayable", field="dead_letter_id")

        def message_of() -> str:
            with hub.database.read() as session:
                return dead_letters.message_of(session, requeued)

        message_id = await run_in_threadpool(message_of)
        body = Replayed(dead_letter_id=dead_letter_id, requeued=requeued,
                        status_url=f"/v1/messages/{message_id}")
        return JSONResponse(body.model_dump(), status_code=202)

    return api
