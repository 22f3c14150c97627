"""The console's pages: dashboard, message trace, dead letters, child view, consent, mappings, audit.

Each handler reads or acts through the hub's own modules (``hub.console.dashboard``, ``trace``,
``child``, ``dead_letters``, ``trial``; the courier's replay; the consent register; the audit
chain) in a worker thread, and renders a template. Pages that show a message or a child mask
personal data; revealing it is a POST with the CSRF token, allowed to the roles entitled to it,
and audited with the child's subject keys before anything is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from consent.register import AlreadyWithdrawn, ConsentRequest, GatewayRequest, RegisterError
from consent.vocabulary import ConsentMethod, ConsentPurpose, Gateway, GivenBy, parse_scope
from hub.audit import record, verify_chain
from hub.canonical import DataCategory
from hub.console import dashboard as dashboard_view
from hub.console.app import MOUNT, Console, Visitor
from hub.console.child import load_child, parse_identifier
from hub.console.dead_letters import PAGE, discard, discard_reason, page_of
from hub.console.masking import fields_of
from hub.console.tables import DeadLetterDiscard
from hub.console.trace import load_trace
from hub.console.trial import try_message
from hub.console.users import Permission
from hub.metrics import destinations, queue_depths
from hub.processing import open_envelope
from hub.store.tables import AuditEntry, ConnectedSystem, DeadLetter, Delivery, DeliveryAttempt, InboxMessage
from mappings.registry import MappingRegistry

LIST_PAGE = 50


def _problem(console: Console, request: Request, visitor: Visitor | None, status: int, detail: str,
             rule: str, field: str | None = None) -> HTMLResponse:
    return console.page(request, "error.html", visitor, status, title="Cannot do that", detail=detail,
                        rule=rule, field=field)


def _page_number(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


def add_pages(app: FastAPI, console: Console) -> None:
    hub = console.hub

    # --- dashboard ------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request, window: str = "24h", fragment: bool = False) -> Response:
        visitor = await console.visitor(request)

        def work() -> Any:
            with hub.database.read() as session:
                board = dashboard_view.dashboard(session, window)
            board.queues = queue_depths(hub, destinations(hub))
            board.breakers = hub.courier.breakers.states()
            return board

        board = await run_in_threadpool(work)
        return console.page(request, "dashboard_body.html" if fragment else "dashboard.html", visitor,
                            board=board, windows=list(dashboard_view.WINDOWS))

    # --- messages and trace ---------------------------------------------------------------

    @app.get("/messages", response_class=HTMLResponse, include_in_schema=False)
    async def messages(request: Request, q: str = "", system: str = "", page: str = "0") -> Response:
        visitor = await console.visitor(request)
        q, number = q.strip(), _page_number(page)
        if q and ":" in q.split()[0]:
            try:
                parse_identifier(q)
            except ValueError:
                pass
            else:
                return RedirectResponse(f"{MOUNT}/children?child={q}", status_code=303)

        def work() -> tuple[list[InboxMessage], list[str], bool]:
            with hub.database.read() as session:
                if q and session.get(InboxMessage, q) is not None:
                    return [], [], True
                query = select(InboxMessage)
                if q:
                    query = query.where(InboxMessage.correlation_id == q)
                if system:
                    query = query.where(InboxMessage.source_system == system)
                rows = list(session.execute(query.order_by(InboxMessage.received_at.desc())
                                            .limit(LIST_PAGE + 1).offset(number * LIST_PAGE)).scalars())
                systems = list(session.execute(select(ConnectedSystem.system_id)
                                               .order_by(ConnectedSystem.system_id)).scalars())
                return rows, systems, False

        rows, systems, exact = await run_in_threadpool(work)
        if exact:
            return RedirectResponse(f"{MOUNT}/messages/{q}", status_code=303)
        return console.page(request, "messages.html", visitor, rows=rows[:LIST_PAGE], systems=systems,
                            q=q, system=system, page=number, more=len(rows) > LIST_PAGE)

    async def _trace(request: Request, visitor: Visitor, tracking_id: str, revealed: bool) -> Response:
        def work() -> Any:
            with hub.database.read() as session:
                trace = load_trace(session, hub.keyring, hub.sharing.register, tracking_id)
                if trace is None:
                    return None
                envelope = open_envelope(hub.keyring, trace.focus.message)
                return trace, fields_of(envelope.payload, revealed)

        found = await run_in_threadpool(work)
        if found is None:
            return _problem(console, request, visitor, 404, f"no message {tracking_id}", "message.exists",
                            "tracking_id")
        trace, fields = found
        return console.page(request, "trace.html", visitor, trace=trace, fields=fields, revealed=revealed)

    @app.get("/messages/{tracking_id}", response_class=HTMLResponse, include_in_schema=False)
    async def message_trace(request: Request, tracking_id: str) -> Response:
        return await _trace(request, await console.visitor(request), tracking_id, False)

    @app.post("/messages/{tracking_id}/reveal", response_class=HTMLResponse, include_in_schema=False)
    async def message_reveal(request: Request, tracking_id: str) -> Response:
        visitor, _form = await console.acting(request, Permission.REVEAL)

        def work() -> bool:
            with hub.database.transaction() as session:
                row = session.get(InboxMessage, tracking_id)
                if row is None:
                    return False
                envelope = open_envelope(hub.keyring, row)
                record(session, "console.revealed", visitor.user.actor, tracking_id,
                       subjects=hub.sharing.subjects_of(envelope), what="message",
                       role=visitor.user.role.value)
                return True

        if not await run_in_threadpool(work):
            return _problem(console, request, visitor, 404, f"no message {tracking_id}", "message.exists",
                            "tracking_id")
        return await _trace(request, visitor, tracking_id, True)

    # --- dead letters ---------------------------------------------------------------------

    @app.get("/dead-letters", response_class=HTMLResponse, include_in_schema=False)
    async def dead_letters(request: Request, page: str = "0", destination: str = "") -> Response:
        visitor = await console.visitor(request)
        number = _page_number(page)

        def work() -> Any:
            with hub.database.read() as session:
                return page_of(session, number, destination or None)

        rows, total = await run_in_threadpool(work)
        return console.page(request, "dead_letters.html", visitor, rows=rows, total=total, page=number,
                            more=(number + 1) * PAGE < total, destination=destination)

    @app.get("/dead-letters/{dead_letter_id}", response_class=HTMLResponse, include_in_schema=False)
    async def dead_letter(request: Request, dead_letter_id: str) -> Response:
        visitor = await console.visitor(request)

        def work() -> Any:
            with hub.database.read() as session:
                dead = session.get(DeadLetter, dead_letter_id)
                gone = session.get(DeadLetterDiscard, dead_letter_id)
                if dead is None and gone is None:
                    return None
                delivery = session.get(Delivery, (dead or gone).delivery_id)
                attempts = list(session.execute(select(DeliveryAttempt).where(
                    DeliveryAttempt.delivery_id == delivery.delivery_id)
                    .order_by(DeliveryAttempt.number)).scalars())
                reason = discard_reason(hub.keyring, gone) if gone is not None else None
                return dead, gone, reason, delivery, attempts

        found = await run_in_threadpool(work)
        if found is None:
            return _problem(console, request, visitor, 404, f"no dead letter {dead_letter_id}",
                            "dead-letter.exists", "dead_letter_id")
        dead, gone, reason, delivery, attempts = found
        return console.page(request, "dead_letter.html", visitor, dead=dead, gone=gone,
                            discard_reason=reason, delivery=delivery, attempts=attempts,
                            dead_letter_id=dead_letter_id)

    @app.post("/dead-letters/{dead_letter_id}/replay", include_in_schema=False)
    async def replay(request: Request, dead_letter_id: str) -> Response:
        visitor, _form = await console.acting(request, Permission.REPLAY)
        try:
            await run_in_threadpool(hub.courier.replay, dead_letter_id, visitor.user.actor)
        except LookupError as error:
            return _problem(console, request, visitor, 409, str(error), "dead-letter.replayable",
                            "dead_letter_id")
        return RedirectResponse(f"{MOUNT}/dead-letters?replayed={dead_letter_id}", status_code=303)

    @app.post("/dead-letters/{dead_letter_id}/discard", include_in_schema=False)
    async def discard_letter(request: Request, dead_letter_id: str) -> Response:
        visitor, form = await console.acting(request, Permission.REPLAY)
        reason = str(form.get("reason") or "")

        def work() -> str:
            with hub.database.transaction() as session:
                return discard(session, hub.keyring, dead_letter_id, reason, visitor.user.actor)

        try:
            await run_in_threadpool(work)
        except ValueError as error:
            return _problem(console, request, visitor, 422, str(error), "discard.reason", "reason")
        except LookupError as error:
            return _problem(console, request, visitor, 404, str(error), "dead-letter.exists",
                            "dead_letter_id")
        return RedirectResponse(f"{MOUNT}/dead-letters/{dead_letter_id}", status_code=303)

    # --- child view -----------------------------------------------------------------------

    async def _child(request: Request, visitor: Visitor, child: str, revealed: bool) -> Response:
        if not child:
            return console.page(request, "child.html", visitor, view=None, child="", revealed=False)
        try:
            identifiers = parse_identifier(child)
        except ValueError as error:
            return _problem(console, request, visitor, 422, str(error), "child.identifier", "child")

        def work() -> Any:
            with hub.database.read() as session:
                return load_child(session, hub.keyring, hub.sharing, identifiers, revealed)

        view = await run_in_threadpool(work)
        return console.page(request, "child.html", visitor, view=view, child=child, revealed=revealed)

    @app.get("/children", response_class=HTMLResponse, include_in_schema=False)
    async def child_view(request: Request, child: str = "") -> Response:
        return await _child(request, await console.visitor(request), child.strip(), False)

    @app.post("/children/reveal", response_class=HTMLResponse, include_in_schema=False)
    async def child_reveal(request: Request) -> Response:
        visitor, form = await console.acting(request, Permission.REVEAL)
        child = str(form.get("child") or "").strip()
        try:
            identifiers = parse_identifier(child)
        except ValueError as error:
            return _problem(console, request, visitor, 422, str(error), "child.identifier", "child")

        def work() -> None:
            with hub.database.transaction() as session:
                record(session, "console.revealed", visitor.user.actor, None,
                       subjects=hub.sharing.subjects.keys_of(identifiers), what="child",
                       role=visitor.user.role.value)

        await run_in_threadpool(work)
        return await _child(request, visitor, child, True)

    # --- consent --------------------------------------------------------------------------

    @app.get("/consent", response_class=HTMLResponse, include_in_schema=False)
    async def consent_page(request: Request, child: str = "") -> Response:
        visitor = await console.visitor(request)
        child = child.strip()
        consents: list[Any] = []
        gateways: list[Any] = []
        if child:
            try:
                identifiers = parse_identifier(child)
            except ValueError as error:
                return _problem(console, request, visitor, 422, str(error), "child.identifier", "child")

            def work() -> Any:
                with hub.database.read() as session:
                    from consent.explain import consent_summary, gateway_summary

                    keys = hub.sharing.subjects.keys_of(identifiers)
                    register = hub.sharing.register
                    return ([consent_summary(r) for r in register.consents_for(session, keys)],
                            [gateway_summary(r) for r in register.gateways_for(session, keys)])

            consents, gateways = await run_in_threadpool(work)
        return console.page(
            request, "consent.html", visitor, child=child, consents=consents, gateways=gateways,
            purposes=[p.value for p in ConsentPurpose], givers=[g.value for g in GivenBy],
            methods=[m.value for m in ConsentMethod], gateway_kinds=[g.value for g in Gateway],
            categories=[c.value for c in DataCategory],
        )

    def _when(form: Any, name: str) -> datetime | None:
        value = str(form.get(name) or "").strip()
        if not value:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise RegisterError(f"{name} is not a date and time (YYYY-MM-DDTHH:MM)", name) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _enum(kind: Any, form: Any, name: str) -> Any:
        try:
            return kind(str(form.get(name) or ""))
        except ValueError:
            raise RegisterError(f"{name} must be one of {', '.join(k.value for k in kind)}", name) from None

    def _scope(form: Any) -> tuple:
        text = str(form.get("scope") or "").replace(",", "\n")
        entries = [entry.strip() for entry in text.splitlines() if entry.strip()]
        try:
            return parse_scope(entries)
        except ValueError as error:
            raise RegisterError(str(error), "scope") from None

    async def _register_write(request: Request, visitor: Visitor, child: str, work: Any) -> Response:
        try:
            await run_in_threadpool(work)
        except AlreadyWithdrawn as error:
            return _problem(console, request, visitor, 409, str(error), "consent.withdrawn", error.field)
        except RegisterError as error:
            return _problem(console, request, visitor, 422, str(error), "consent.register", error.field)
        return RedirectResponse(f"{MOUNT}/consent?child={child}", status_code=303)

    @app.post("/consent", include_in_schema=False)
    async def record_consent(request: Request) -> Response:
        visitor, form = await console.acting(request, Permission.CONSENT)
        child = str(form.get("child") or "").strip()

        def work() -> None:
            try:
                identifiers = parse_identifier(child)
            except ValueError as error:
                raise RegisterError(str(error), "child") from None
            given_by = _enum(GivenBy, form, "given_by")
            competent = form.get("competent") == "yes"
            request_ = ConsentRequest(
                subjects=hub.sharing.subjects.keys_of(identifiers),
                purpose=_enum(ConsentPurpose, form, "purpose"), given_by=given_by, scope=_scope(form),
                method=_enum(ConsentMethod, form, "method"),
                given_at=_when(form, "given_at") or datetime.now(UTC),
                expires_at=_when(form, "expires_at"),
                competent=competent if given_by is GivenBy.CHILD else None,
                parental_responsibility=form.get("parental_responsibility") == "yes",
                given_by_name=str(form.get("given_by_name") or "") or None,
                competence_assessed_by=str(form.get("competence_assessed_by") or "") or None,
            )
            with hub.database.transaction() as session:
                hub.sharing.register.record_consent(session, request_, visitor.user.actor)

        return await _register_write(request, visitor, child, work)

    @app.post("/consent/{consent_id}/withdraw", include_in_schema=False)
    async def withdraw_consent(request: Request, consent_id: str) -> Response:
        visitor, form = await console.acting(request, Permission.CONSENT)
        child = str(form.get("child") or "").strip()

        def work() -> None:
            reason = str(form.get("reason") or "").strip()
            if not reason:
                raise RegisterError("a withdrawal records its reason", "reason")
            with hub.database.transaction() as session:
                hub.sharing.register.withdraw(session, consent_id, _enum(GivenBy, form, "withdrawn_by"),
                                              reason, visitor.user.actor)

        return await _register_write(request, visitor, child, work)

    @app.post("/gateways", include_in_schema=False)
    async def record_gateway(request: Request) -> Response:
        visitor, form = await console.acting(request, Permission.GATEWAY)
        child = str(form.get("child") or "").strip()

        def work() -> None:
            try:
                identifiers = parse_identifier(child)
            except ValueError as error:
                raise RegisterError(str(error), "child") from None
            purposes = frozenset(ConsentPurpose(p) for p in form.getlist("purposes")
                                 if p in {x.value for x in ConsentPurpose})
            request_ = GatewayRequest(
                subjects=hub.sharing.subjects.keys_of(identifiers), gateway=_enum(Gateway, form, "gateway"),
                purposes=purposes, scope=_scope(form),
                decided_by=str(form.get("decided_by") or ""),
                decided_by_role=str(form.get("decided_by_role") or ""),
                reason=str(form.get("reason") or ""),
                decided_at=_when(form, "decided_at") or datetime.now(UTC),
                expires_at=_when(form, "expires_at"),
            )
            with hub.database.transaction() as session:
                hub.sharing.register.record_gateway(session, request_, visitor.user.actor)

        return await _register_write(request, visitor, child, work)

    # --- mappings -------------------------------------------------------------------------

    def _registry() -> MappingRegistry:
        return hub.adapters.mappings

    @app.get("/mappings", response_class=HTMLResponse, include_in_schema=False)
    async def mappings(request: Request, spec: str = "") -> Response:
        visitor = await console.visitor(request)

        def work() -> Any:
            effective = _registry().all()
            shown = None
            if spec in effective:
                chosen = effective[spec]
                shown = (chosen.layers, yaml.safe_dump(
                    chosen.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                    sort_keys=False, width=100))
            return effective, shown

        effective, shown = await run_in_threadpool(work)
        return console.page(request, "mappings.html", visitor, effective=effective, spec=spec, shown=shown,
                            trial=None, message="", source="")

    @app.post("/mappings/try", response_class=HTMLResponse, include_in_schema=False)
    async def mappings_try(request: Request) -> Response:
        visitor, form = await console.acting(request, Permission.TRY_MAPPING)
        spec = str(form.get("spec") or "")
        message = str(form.get("message") or "")
        source = str(form.get("source") or "").strip() or None
        if not message.strip():
            return _problem(console, request, visitor, 422, "paste a message to try", "mapping.message",
                            "message")

        def work() -> Any:
            registry = _registry()
            return registry.all(), try_message(registry, spec, message.encode(), source)

        effective, trial = await run_in_threadpool(work)
        return console.page(request, "mappings.html", visitor, effective=effective, spec=spec, shown=None,
                            trial=trial, message=message, source=source or "",
                            status_code=200 if trial.error is None else 422)

    # --- audit ----------------------------------------------------------------------------

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    async def audit(request: Request, page: str = "0", verify: bool = False) -> Response:
        visitor = await console.visitor(request)
        number = _page_number(page)

        def work() -> Any:
            with hub.database.read() as session:
                entries = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())
                                               .limit(LIST_PAGE + 1).offset(number * LIST_PAGE)).scalars())
                status = verify_chain(session) if verify else None
            return entries, status

        entries, status = await run_in_threadpool(work)
        return console.page(request, "audit.html", visitor, entries=entries[:LIST_PAGE], status=status,
                            page=number, more=len(entries) > LIST_PAGE)

