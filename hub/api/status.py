"""``GET /v1/messages/{tracking_id}``: what happened to a message, for its sender or an operator.

Shows the path and the decisions (destinations, outcomes, legal bases, field names), never the
personal data itself.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from hub.api.auth import OPERATOR, caller
from hub.api.inbound import UNAUTHORISED
from hub.api.problems import Problem, problem
from hub.bootstrap import Hub
from hub.store.tables import Decision, Delivery, DeliveryAttempt, InboxMessage


class DecisionView(BaseModel):
    destination: str
    outcome: str
    legal_basis: str | None
    reason: str
    fields_shared: list[str]
    fields_withheld: list[str]
    decided_at: datetime


class AttemptView(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None


class DeliveryView(BaseModel):
    destination: str
    message_type: str
    status: str
    attempts: int
    completed_at: datetime | None
    attempt_log: list[AttemptView]


class MessageStatus(BaseModel):
    tracking_id: str
    source_system: str
    source_message_id: str
    correlation_id: str
    message_type: str
    status: str
    hold_reason: str | None = None
    received_at: datetime
    processed_at: datetime | None
    decisions: list[DecisionView]
    deliveries: list[DeliveryView]


def load_status(hub: Hub, tracking_id: str) -> MessageStatus | None:
    with hub.database.read() as session:
        row = session.get(InboxMessage, tracking_id)
        if row is None:
            return None
        decisions = session.execute(
            select(Decision).where(Decision.message_id == tracking_id).order_by(Decision.decided_at)
        ).scalars().all()
        deliveries = session.execute(
            select(Delivery).where(Delivery.message_id == tracking_id).order_by(Delivery.destination)
        ).scalars().all()
        views = []
        for delivery in deliveries:
            attempts = session.execute(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.delivery_id)
                .order_by(DeliveryAttempt.number)
            ).scalars().all()
            views.append(DeliveryView(
                destination=delivery.destination, message_type=delivery.message_type,
                status=delivery.status, attempts=delivery.attempts,
                completed_at=delivery.completed_at,
                attempt_log=[AttemptView.model_validate(a, from_attributes=True) for a in attempts],
            ))
        return MessageStatus(
            tracking_id=row.message_id, source_system=row.source_system,
            source_message_id=row.source_message_id, correlation_id=row.correlation_id,
            message_type=row.message_type, status=row.status, hold_reason=row.hold_reason,
            received_at=row.received_at,
            processed_at=row.processed_at,
            decisions=[DecisionView.model_validate(d, from_attributes=True) for d in decisions],
            deliveries=views,
        )


def router(hub: Hub) -> APIRouter:
    api = APIRouter(tags=["status"])

    @api.get(
        "/v1/messages/{tracking_id}", response_model=MessageStatus,
        responses={401: {"model": Problem}, 404: {"model": Problem}},
        summary="What happened to a message",
        description="For the system that sent it, or an operator: its processing status, "
        "each sharing decision with its legal basis and the fields shared, and each delivery "
        "with its attempts.",
    )
    async def message_status(tracking_id: str, request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return problem(401, "a bearer token is required", rule="auth.bearer",
                           field="Authorization", headers=UNAUTHORISED)
        status = await run_in_threadpool(load_status, hub, tracking_id)
        if status is None or (who != OPERATOR and status.source_system != who.system_id):
            return problem(404, "no such message for this caller", field="tracking_id",
                           rule="message.exists")
        return JSONResponse(status.model_dump(mode="json"))

    return api
