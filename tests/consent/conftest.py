"""Fixtures for the consent tests: a hub with Hannah's TAC agencies and a case system as peers.

Events are fed as canonical envelopes stored the way intake stores an accepted message (the CAF
episode wire format is not the point here); the worker and the courier then do the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from adapters import registry as adapter_registry
from adapters.partner.outbound import CanonicalJsonOutbound
from hub.api.app import create_app
from hub.audit import record
from hub.bootstrap import Hub, bootstrap
from hub.canonical import Envelope
from hub.flows import FLOWS, FlowContext
from hub.flows.lead_professional import Outgoing
from hub.registry import receivers, register
from hub.sealing import seal_json
from hub.store.database import Database
from hub.store.migrate import upgrade
from hub.store.tables import Delivery, InboxMessage
from hub.worker import Worker
from queues.outbox import enqueue
from queues.topology import INBOUND
from simulators.peer import PeerState, peer_app
from simulators.server import ServerThread
from tests.conftest import delete_queues, make_settings
from tests.integration.helpers import eventually

OPERATOR_TOKEN = "operator-token-for-tests-0123456789"
FINISHED = ("delivered", "dead", "withheld")


def feed(hub: Hub, envelope: Envelope) -> str:
    """Store an envelope as an accepted inbox message and queue it, as intake does."""
    sealed = seal_json(hub.keyring, envelope.model_dump(mode="json"), f"inbox:{envelope.message_id}")
    raw = hub.keyring.seal(envelope.model_dump_json().encode(), f"inbox-raw:{envelope.message_id}")
    with hub.database.transaction() as session:
        session.add(InboxMessage(
            message_id=envelope.message_id, source_system=envelope.source_system,
            source_message_id=envelope.source_message_id, correlation_id=envelope.correlation_id,
            message_type=envelope.message_type, status="accepted", received_at=envelope.received_at,
            key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=raw.blob,
        ))
        session.flush()
        entry = enqueue(session, INBOUND, {"message_id": envelope.message_id})
        record(session, "message.received", envelope.source_system, envelope.message_id,
               message_type=envelope.message_type, correlation_id=envelope.correlation_id)
    hub.relay.flush([entry])
    return envelope.message_id


def settle(hub: Hub, message_id: str, timeout: float = 30.0) -> dict[str, Delivery]:
    """Wait until the message is processed and each of its deliveries has finished."""

    def finished() -> dict[str, Delivery] | None:
        with hub.database.read() as session:
            row = session.get(InboxMessage, message_id)
            if row is None or row.status == "accepted":
                return None
            deliveries = session.execute(
                select(Delivery).where(Delivery.message_id == message_id)
            ).scalars().all()
            if any(d.status not in FINISHED for d in deliveries):
                return None
            return {d.destination: d for d in deliveries} or {"": None}  # type: ignore[dict-item]

    found = eventually(finished, timeout, f"message {message_id} to settle")
    return {k: v for k, v in found.items() if k}


@dataclass
class GatedPeer:
    """A peer that, while ``hold`` is set, keeps the next request waiting until ``release``, then 503."""

    received: list[Any] = field(default_factory=list)
    hold: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        def receive(path: str, request: Request, body: dict) -> JSONResponse:
            if self.hold:
                self.arrived.set()
                self.release.wait(30)
                return JSONResponse({"error": "held"}, status_code=503)
            self.received.append(body)
            return JSONResponse({"status": "applied"}, status_code=201)

        return app


@dataclass
class ConsentHub:
    hub: Hub
    url: str
    caf_token: str
    case_token: str
    youth_service: PeerState
    young_carers: GatedPeer
    case_system: PeerState

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


def to_case_systems(ctx: FlowContext) -> list[Outgoing]:
    """Step-up routing for these tests only: a referral goes to every case system receiving it."""
    return [Outgoing(system, ctx.envelope)
            for system in receivers(ctx.session, ctx.envelope.message_type)
            if system.kind == "case_system"]


@pytest.fixture
def consent_hub(
    tmp_path: Path, backend: str, backend_database_url: str | None, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ConsentHub]:
    """API and workers on ``backend``; Lee's and Libby's agencies and a case system as peers."""
    monkeypatch.setitem(FLOWS, "referral-to-social-care", to_case_systems)
    monkeypatch.setitem(adapter_registry.OUTBOUND, "case_system",
                        CanonicalJsonOutbound("case_system", frozenset({"referral-to-social-care"})))
    settings = make_settings(tmp_path, backend, backend_database_url, operator_token=OPERATOR_TOKEN)
    youth, carers, case = PeerState(), GatedPeer(), PeerState()
    servers = [ServerThread(peer_app("youth service", youth)).start(), ServerThread(carers.app()).start(),
               ServerThread(peer_app("case system", case)).start(),
               ServerThread(peer_app("CAF system", PeerState())).start()]
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, "caf-national", "National eCAF", "caf_system", servers[3].url,
                             allowed_out=[]).token
        register(session, "youth-service", "Northfield Youth Service", "partner", servers[0].url)
        register(session, "young-carers", "Young Carers Group", "partner", servers[1].url)
        case_token = register(session, "lcs", "Children's social care", "case_system", servers[2].url,
                              allowed_out=["referral-to-social-care"]).token
    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()
    try:
        yield ConsentHub(hub, api.url, caf_token, case_token, youth, carers, case)
    finally:
        carers.release.set()
        api.stop()
        worker.stop()
        for server in servers:
            server.stop()
        delete_queues(hub, ["youth-service", "young-carers", "lcs", "caf-national"])
        hub.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'register.db'}")
    upgrade(database)
    try:
        yield database
    finally:
        database.dispose()
