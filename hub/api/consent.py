"""The consent API: record, view and withdraw consent; record gateway decisions; read decisions
and a child's disclosure report.

Who may call what:
- record or withdraw a consent: a registered CAF system, case system or partner (the directory
  records nothing about a child), or an operator;
- view a consent or a gateway decision: the system that recorded it, or an operator;
- record a gateway decision: the kinds of system ``consent.vocabulary.GATEWAY_DECIDERS`` names
  for that gateway (s47 and s17 are the local authority's case system's), or an operator;
- list gateway decisions (oversight), a child's consents, decisions and disclosure report:
  operators only;
- explain one decision: the system whose message it was about, or an operator.
A child is named by strong identifiers in the query or body, never by name; the answers carry
identifiers, roles and legal bases, and a consent's people only to those entitled to the record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from stdnum.exceptions import ValidationError as IdentifierError
from stdnum.gb import nhs, upn

from consent.explain import consent_summary, decisions, disclosures, explain, gateway_summary
from consent.register import AlreadyWithdrawn, ConsentRequest, GatewayRequest, RegisterError
from consent.vocabulary import (
    CONSENT_RECORDERS,
    GATEWAY_DECIDERS,
    ConsentMethod,
    ConsentPurpose,
    Gateway,
    GivenBy,
    ScopeEntry,
    parse_scope,
)
from hub.api.auth import OPERATOR, caller
from hub.api.inbound import UNAUTHORISED
from hub.api.problems import Problem, problem
from hub.bootstrap import Hub
from hub.canonical import DataCategory
from hub.store.tables import ConnectedSystem, ConsentRecord, Decision, InboxMessage, LegalGatewayRecord

PROBLEMS = {code: {"model": Problem} for code in (401, 403, 404, 409, 422)}


class ChildRef(BaseModel):
    """The child, by one or more strong identifiers."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str | None = None
    upn: str | None = None
    directory_id: str | None = None
    la_child_id: str | None = None
    caf_child_id: str | None = None

    @model_validator(mode="after")
    def _checked(self) -> ChildRef:
        if not any(self.identifiers().values()):
            raise ValueError("name the child by at least one strong identifier")
        for value, scheme, label in ((self.nhs_number, nhs, "NHS number"), (self.upn, upn, "UPN")):
            if value is not None:
                try:
                    scheme.validate(value)
                except IdentifierError as error:
                    raise ValueError(f"{label}: {error.message}") from None
        return self

    def identifiers(self) -> dict[str, str | None]:
        return self.model_dump()


class Competence(BaseModel):
    competent: bool
    assessed_by: str = Field(min_length=1, max_length=200)
    note: str | None = Field(None, max_length=2000)


class Giver(BaseModel):
    role: GivenBy
    name: str | None = Field(None, max_length=200)
    relationship: str | None = Field(None, max_length=100)
    parental_responsibility: bool | None = None
    competence: Competence | None = None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    child: ChildRef
    given_by: Giver
    purpose: ConsentPurpose
    scope: list[str] = Field(min_length=1, description="type:value, e.g. agency:youth-service")
    categories: list[DataCategory] | None = None
    method: ConsentMethod
    given_at: AwareDatetime
    expires_at: AwareDatetime | None = None


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    withdrawn_by: GivenBy
    name: str | None = Field(None, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    scope: list[str] | None = Field(None, description="withdraw only these scope entries")
    withdrawn_at: AwareDatetime | None = None


class GatewayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    child: ChildRef
    gateway: Gateway
    purposes: list[ConsentPurpose] = Field(min_length=1)
    scope: list[str] = Field(min_length=1)
    categories: list[DataCategory] | None = None
    decided_by: str = Field(min_length=1, max_length=100)
    decided_by_role: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=4000)
    decided_at: AwareDatetime
    expires_at: AwareDatetime | None = None


class ConsentView(BaseModel):
    consent_id: str
    purpose: str
    given_by: str
    competent: bool | None
    scope: list[str]
    categories: list[str]
    method: str
    given_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    recorded_by: str
    details: dict[str, Any] | None = None
    withdrawal: dict[str, Any] | None = None
    replaced_by: str | None = None


class GatewayView(BaseModel):
    gateway_id: str
    gateway: str
    purposes: list[str]
    scope: list[str]
    categories: list[str] | None
    decided_by: str
    decided_by_role: str
    decided_at: datetime
    expires_at: datetime | None
    recorded_by: str
    reason: str | None = None


class ChildQuery(BaseModel):
    """The child in a query string, by at least one strong identifier."""

    nhs_number: str | None = None
    upn: str | None = None
    directory_id: str | None = None
    la_child_id: str | None = None
    caf_child_id: str | None = None

    @model_validator(mode="after")
    def _named(self) -> ChildQuery:
        if not any(self.model_dump().values()):
            raise ValueError("name the child by at least one strong identifier")
        return self

    def keys(self, subjects: Any) -> tuple[str, ...]:
        return subjects.keys_of(self.model_dump())


def _actor(who: ConnectedSystem | str) -> str:
    return OPERATOR if who == OPERATOR else who.system_id  # type: ignore[union-attr]


def _unknown() -> JSONResponse:
    return problem(401, "a bearer token is required", rule="auth.bearer", field="Authorization",
                   headers=UNAUTHORISED)


def _refused(detail: str, rule: str) -> JSONResponse:
    return problem(403, detail, rule=rule)


def _invalid(error: RegisterError | ValueError) -> JSONResponse:
    return problem(422, str(error), rule="consent.register", field=getattr(error, "field", None))


def _scope(entries: list[str]) -> tuple[ScopeEntry, ...]:
    try:
        return parse_scope(entries)
    except ValueError as error:
        raise RegisterError(str(error), "scope") from None


def _consent_view(hub: Hub, row: ConsentRecord, with_people: bool, successor: str | None = None) -> dict:
    view = ConsentView(**consent_summary(row))
    if with_people:
        register = hub.sharing.register
        view.details = register.details(row)
        view.withdrawal = register.withdrawal(row)
    view.replaced_by = successor
    return view.model_dump(mode="json")


def _gateway_view(hub: Hub, row: LegalGatewayRecord, with_reason: bool) -> dict:
    return GatewayView(**gateway_summary(row, hub.sharing.register if with_reason else None)).model_dump(
        mode="json"
    )


async def _created(work: Callable[[], dict]) -> JSONResponse:
    """A register write, off the event loop: 201 with the new record, or 422 naming the rule."""

    def guarded() -> dict | RegisterError:
        try:
            return work()
        except RegisterError as error:
            return error

    result = await run_in_threadpool(guarded)
    if isinstance(result, RegisterError):
        return _invalid(result)
    return JSONResponse(result, status_code=201)


def entitled(who: ConnectedSystem | str, recorded_by: str) -> bool:
    """The system that recorded a register entry, or an operator."""
    return who == OPERATOR or (isinstance(who, ConnectedSystem) and who.system_id == recorded_by)


async def _view_record(
    hub: Hub, request: Request, table: type, record_id: str,
    render: Callable[[Any], dict], missing: tuple[str, str, str],
) -> JSONResponse:
    """One register record for the system that recorded it, or an operator; 404 to anyone else,
    so a caller cannot learn that a record about a child exists."""
    who = await run_in_threadpool(caller, hub, request)
    if who is None:
        return _unknown()

    def work() -> dict | None:
        with hub.database.read() as session:
            row = session.get(table, record_id)
            if row is None or not entitled(who, row.recorded_by):
                return None
            return render(row)

    found = await run_in_threadpool(work)
    if found is None:
        detail, rule, field = missing
        return problem(404, detail, rule=rule, field=field)
    return JSONResponse(found)


def router(hub: Hub) -> APIRouter:
    api = APIRouter(tags=["consent"])
    register = hub.sharing.register
    subjects = hub.sharing.subjects

    def may_record(who: ConnectedSystem | str) -> bool:
        return who == OPERATOR or (isinstance(who, ConnectedSystem) and who.kind in CONSENT_RECORDERS)

    @api.post("/v1/consents", status_code=201, responses=PROBLEMS, summary="Record a consent",
              description="A consent for one child and one purpose, with who gave it (the child "
              "with the competence judgement, or a person with parental responsibility), its scope, "
              "data categories, method, when it was given and when it expires.")
    async def record_consent(body: ConsentIn, request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if not may_record(who):
            return _refused(f"a {who.kind} does not record consent", "consent.recorder")

        def work() -> dict:
            competence = body.given_by.competence
            consent = ConsentRequest(
                subjects=subjects.keys_of(body.child.identifiers()), purpose=body.purpose,
                given_by=body.given_by.role, scope=_scope(body.scope), method=body.method,
                given_at=body.given_at, expires_at=body.expires_at,
                categories=frozenset(body.categories) if body.categories is not None else None,
                competent=competence.competent if competence else None,
                parental_responsibility=body.given_by.parental_responsibility,
                given_by_name=body.given_by.name, relationship=body.given_by.relationship,
                competence_assessed_by=competence.assessed_by if competence else None,
                competence_note=competence.note if competence else None,
            )
            with hub.database.transaction() as session:
                row = register.record_consent(session, consent, _actor(who))
                return _consent_view(hub, row, with_people=True)

        return await _created(work)

    @api.get("/v1/consents/{consent_id}", responses=PROBLEMS, summary="View a consent")
    async def view_consent(consent_id: str, request: Request) -> JSONResponse:
        return await _view_record(
            hub, request, ConsentRecord, consent_id,
            lambda row: _consent_view(hub, row, with_people=True),
            ("no such consent for this caller", "consent.exists", "consent_id"),
        )

    @api.post("/v1/consents/{consent_id}/withdrawal", responses=PROBLEMS, summary="Withdraw a consent",
              description="Stops future sharing on this consent, messages still queued included; "
              "sharing under a legal gateway is not affected and past disclosures stay on record. "
              "With `scope`, only those entries are withdrawn and a successor keeps the rest.")
    async def withdraw_consent(consent_id: str, body: WithdrawalIn, request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if not may_record(who):
            return _refused(f"a {who.kind} does not record consent", "consent.recorder")

        def work() -> dict | RegisterError | None:
            try:
                with hub.database.transaction() as session:
                    if session.get(ConsentRecord, consent_id) is None:
                        return None
                    row, successor = register.withdraw(
                        session, consent_id, body.withdrawn_by, body.reason, _actor(who), name=body.name,
                        scope=_scope(body.scope) if body.scope is not None else None,
                        at=body.withdrawn_at,
                    )
                    return _consent_view(hub, row, with_people=entitled(who, row.recorded_by),
                                         successor=successor.consent_id if successor else None)
            except RegisterError as error:
                return error

        result = await run_in_threadpool(work)
        if result is None:
            return problem(404, "no such consent", rule="consent.exists", field="consent_id")
        if isinstance(result, RegisterError):
            if isinstance(result, AlreadyWithdrawn):
                return problem(409, str(result), rule="consent.withdrawn", field="consent_id")
            return _invalid(result)
        return JSONResponse(result)

    @api.get("/v1/consents", responses=PROBLEMS, summary="A child's consents (operators)")
    async def list_consents(request: Request, child: Annotated[ChildQuery, Query()]) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if who != OPERATOR:
            return _refused("only an operator may list a child's consents", "consent.oversight")

        def work() -> list[dict]:
            with hub.database.read() as session:
                return [_consent_view(hub, row, with_people=True)
                        for row in register.consents_for(session, child.keys(subjects))]

        return JSONResponse(await run_in_threadpool(work))

    @api.post("/v1/gateways", status_code=201, responses=PROBLEMS,
              summary="Record a decision to share without consent under a legal gateway",
              description="With the decision maker, their role, the reason and the time. The "
              "decision is audited and visible to oversight.")
    async def record_gateway(body: GatewayIn, request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if who != OPERATOR and who.kind not in GATEWAY_DECIDERS[body.gateway]:
            return _refused(f"a {who.kind} does not decide {body.gateway.value}", "gateway.decider")

        def work() -> dict:
            gateway = GatewayRequest(
                subjects=subjects.keys_of(body.child.identifiers()), gateway=body.gateway,
                purposes=frozenset(body.purposes), scope=_scope(body.scope),
                decided_by=body.decided_by, decided_by_role=body.decided_by_role,
                reason=body.reason, decided_at=body.decided_at, expires_at=body.expires_at,
                categories=frozenset(body.categories) if body.categories is not None else None,
            )
            with hub.database.transaction() as session:
                row = register.record_gateway(session, gateway, _actor(who))
                return _gateway_view(hub, row, with_reason=True)

        return await _created(work)

    @api.get("/v1/gateways", responses=PROBLEMS, summary="Gateway decisions (oversight, operators)")
    async def list_gateways(request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if who != OPERATOR:
            return _refused("gateway decisions are visible to oversight (operators)", "gateway.oversight")

        def work() -> list[dict]:
            with hub.database.read() as session:
                return [_gateway_view(hub, row, with_reason=True) for row in register.gateways_for(session)]

        return JSONResponse(await run_in_threadpool(work))

    @api.get("/v1/gateways/{gateway_id}", responses=PROBLEMS, summary="View a gateway decision")
    async def view_gateway(gateway_id: str, request: Request) -> JSONResponse:
        return await _view_record(
            hub, request, LegalGatewayRecord, gateway_id,
            lambda row: _gateway_view(hub, row, with_reason=True),
            ("no such gateway decision for this caller", "gateway.exists", "gateway_id"),
        )

    @api.get("/v1/decisions/{decision_id}", responses=PROBLEMS, summary="Why a decision was made",
             description="The checks a sharing decision made, its legal basis, the consents or "
             "gateway decision it rested on, and the fields shared and withheld.")
    async def explain_decision(decision_id: str, request: Request) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()

        def work() -> dict | None:
            with hub.database.read() as session:
                decision = session.get(Decision, decision_id)
                if decision is None:
                    return None
                if who != OPERATOR:
                    message = session.get(InboxMessage, decision.message_id)
                    if message is None or message.source_system != who.system_id:
                        return None
                explanation = explain(session, register, decision_id)
                return _jsonable(explanation.__dict__) if explanation else None

        found = await run_in_threadpool(work)
        if found is None:
            return problem(404, "no such decision for this caller", rule="decision.exists",
                           field="decision_id")
        return JSONResponse(found)

    @api.get("/v1/children/decisions", responses=PROBLEMS, summary="A child's decisions (operators)")
    async def child_decisions(request: Request, child: Annotated[ChildQuery, Query()]) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if who != OPERATOR:
            return _refused("only an operator may read a child's decisions", "decision.oversight")

        def work() -> list[dict]:
            with hub.database.read() as session:
                return [_jsonable(d.__dict__) for d in decisions(session, child.keys(subjects))]

        return JSONResponse(await run_in_threadpool(work))

    @api.get("/v1/children/disclosures", responses=PROBLEMS,
             summary="Who has seen this child's information (operators)",
             description="Every disclosure of the child's data: to whom, which data categories, "
             "when and on what basis, from the audit chain (each entry re-checked).")
    async def child_disclosures(request: Request, child: Annotated[ChildQuery, Query()]) -> JSONResponse:
        who = await run_in_threadpool(caller, hub, request)
        if who is None:
            return _unknown()
        if who != OPERATOR:
            return _refused("only an operator may read a disclosure report", "disclosure.oversight")

        def work() -> list[dict]:
            with hub.database.read() as session:
                return [_jsonable(d.__dict__) for d in disclosures(session, child.keys(subjects))]

        return JSONResponse(await run_in_threadpool(work))

    return api


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
