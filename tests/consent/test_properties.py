"""Properties of the sharing decision over random events, destinations and register states.

Events are drawn for every canonical event type from the models' own field types, so a new
field or event is covered without touching these tests.
"""

from __future__ import annotations

import itertools
import json
import types
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import select

from consent.minimise import minimise
from consent.policy import RULES, SHIELD_FIELDS, Destination, Recipient, decide
from consent.profiles import allowed_categories
from consent.register import ConsentGrant, ConsentRequest, GatewayGrant, GatewayRequest, RegisterState
from consent.vocabulary import (
    ConsentMethod,
    ConsentPurpose,
    Gateway,
    GivenBy,
    ScopeEntry,
    ScopeType,
    parse_scope,
)
from hub.bootstrap import Hub, bootstrap
from hub.canonical import DataCategory, Envelope, Purpose, field_categories
from hub.canonical.events import EVENT_CLASSES, EVENT_TYPES
from hub.canonical.people import Address, ChildIdentifiers
from hub.registry import register
from hub.store.tables import AuditEntry, Decision, Delivery
from tests.conftest import make_settings
from tests.consent.conftest import feed
from tests.consent.story import episode, hannah

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
KINDS = ("directory", "partner", "case_system", "caf_system")
MESSAGE_TYPES = [cls.model_fields["event_type"].default for cls in EVENT_CLASSES]
ADDRESS_LINE, POSTCODE = "#ADDRESS# 1 Hidden Lane", "#POSTCODE#"
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz -", min_size=1, max_size=8)


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """A strategy for a canonical field's type: models recursively, optional, lists, enums, literals."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        present = [strategy_for(arg) for arg in args if arg is not type(None)]
        return st.one_of(st.none(), *present) if type(None) in args else st.one_of(*present)
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=2)
    if origin is Literal:
        return st.sampled_from(args)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return model_strategy(annotation)
        if issubclass(annotation, Enum):
            return st.sampled_from(list(annotation))
        if annotation is bool:
            return st.booleans()
        if annotation is int:
            return st.integers(0, 50)
        if annotation is str:
            return WORDS
        if annotation is datetime:
            return st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                                timezones=st.just(UTC))
        if annotation is date:
            return st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1))
    raise TypeError(f"no strategy for {annotation!r}")


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
    fields = {name: st.deferred(lambda info=info: strategy_for(info.annotation))
              for name, info in model.model_fields.items()}
    return st.fixed_dictionaries(fields).map(model.model_validate)


def with_marked_address(event: BaseModel) -> BaseModel:
    """The event with the child at a recognisable address, to look for it in what leaves."""
    child = event.child.model_copy(update={"address": Address(lines=[ADDRESS_LINE], postcode=POSTCODE)})
    return event.model_copy(update={"child": child})


RULED = {kind: [EVENT_TYPES[rule.message_type] for rule in RULES if rule.destination_kind == kind]
         for kind in KINDS}


@st.composite
def cases(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS) -> tuple[Envelope, Destination]:
    """An event and a destination, drawn so that about half the pairs have a rule that could permit."""
    kind = draw(st.sampled_from(kinds))
    model = draw(st.one_of(st.sampled_from(RULED[kind]), st.sampled_from(EVENT_CLASSES)))
    event = with_marked_address(draw(model_strategy(model)))
    ruled = [rule.purpose for rule in RULES
             if (rule.message_type, rule.destination_kind) == (event.event_type, kind)]
    any_purpose = st.sampled_from(list(Purpose))
    purpose = draw(st.one_of(st.sampled_from(ruled), any_purpose) if ruled else any_purpose)
    allowed = set(draw(st.lists(st.sampled_from(MESSAGE_TYPES), max_size=3)))
    if draw(st.integers(0, 9)):
        allowed.add(event.event_type)
    recipients = draw(st.lists(st.builds(Recipient, st.sampled_from(["P-1", "P-2"]),
                                         st.sampled_from([None, "youth worker"])), max_size=2))
    destination = Destination(
        draw(st.sampled_from(["directory", "youth-service", "lcs", "caf-national"])), kind,
        frozenset(allowed), name=draw(st.sampled_from([None, "Northfield Youth Service"])),
        recipients=tuple(recipients),
    )
    envelope = Envelope(correlation_id="c", source_system="caf-national", source_message_id="m",
                        message_type=event.event_type, message_version="1", occurred_at=NOW,
                        purpose=purpose, payload=event)
    return envelope, destination


scopes = st.lists(st.one_of(
    st.builds(ScopeEntry, st.just(ScopeType.KIND), st.sampled_from(KINDS)),
    st.builds(ScopeEntry, st.just(ScopeType.AGENCY), st.sampled_from(["directory", "youth-service", "lcs"])),
    st.builds(ScopeEntry, st.just(ScopeType.PRACTITIONER), st.sampled_from(["P-1", "P-2"])),
    st.builds(ScopeEntry, st.just(ScopeType.ROLE), st.just("youth worker")),
), min_size=1, max_size=3).map(tuple)
moments = st.one_of(st.none(), st.builds(lambda days: NOW + timedelta(days=days), st.integers(-30, 30)))
category_sets = st.frozensets(st.sampled_from(list(DataCategory)), min_size=1)
consents = st.builds(
    ConsentGrant, consent_id=st.sampled_from(["c-1", "c-2", "c-3"]),
    purpose=st.sampled_from(list(ConsentPurpose)), given_by=st.sampled_from(list(GivenBy)),
    competent=st.sampled_from([None, True, False]), scope=scopes,
    categories=category_sets, given_at=st.just(NOW - timedelta(days=60)), expires_at=moments,
    withdrawn_at=moments,
)
gateways = st.builds(
    GatewayGrant, gateway_id=st.just("g-1"), gateway=st.sampled_from(list(Gateway)),
    purposes=st.frozensets(st.sampled_from(list(ConsentPurpose)), min_size=1), scope=scopes,
    categories=st.one_of(st.none(), category_sets), decided_by=st.just("P-TM-03"),
    decided_by_role=st.just("Team manager"), decided_at=st.just(NOW - timedelta(days=1)), expires_at=moments,
)
states = st.builds(RegisterState, st.lists(consents, max_size=4).map(tuple),
                   st.lists(gateways, max_size=2).map(tuple))


def categories_of(message_type: str, paths: list[str]) -> set[str]:
    """The categories along each field path, worked out from the model independently of the policy."""
    leaf = field_categories(EVENT_TYPES[message_type])
    found: set[str] = set()
    for path in paths:
        parts = path.split(".")
        for end in range(1, len(parts) + 1):
            category = leaf[".".join(parts[:end])]
            if category is not None:
                found.add(category.value)
    return found


def paths_in(data: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            found.add(f"{prefix}{key}")
            found |= paths_in(value, f"{prefix}{key}.")
    elif isinstance(data, list):
        for item in data:
            found |= paths_in(item, prefix)
    return found


@settings(max_examples=100, deadline=None)
@given(cases(), states)
def test_no_destination_ever_receives_a_category_its_profile_leaves_out(case, state):
    envelope, destination = case
    decision = decide(envelope, destination, state, NOW)
    received = categories_of(envelope.message_type, list(paths_in(decision.data)) + decision.shared)
    assert received <= {category.value for category in allowed_categories(destination.kind)}
    if not decision.permitted:
        assert decision.data == {} and decision.shared == []


@settings(max_examples=100, deadline=None)
@given(cases(("directory",)), states)
def test_the_directory_never_receives_a_field_of_category_case_or_sensitive(case, state):
    envelope, destination = case
    decision = decide(envelope, destination, state, NOW)
    received = categories_of(envelope.message_type, list(paths_in(decision.data)) + decision.shared)
    assert received.isdisjoint({DataCategory.CASE.value, DataCategory.SENSITIVE.value})


@settings(max_examples=100, deadline=None)
@given(cases(("directory",)), states)
def test_a_shielded_childs_address_school_or_gp_never_leaves_toward_the_directory(case, state):
    envelope, destination = case
    shielded = envelope.model_copy(update={"payload": envelope.payload.model_copy(
        update={"child": envelope.payload.child.model_copy(update={"shielded": True})})})
    decision = decide(shielded, destination, state, NOW)
    leaving = json.dumps(decision.data)
    assert ADDRESS_LINE not in leaving and POSTCODE not in leaving
    # nothing beyond name, gender, date of birth, directory id and carers' names: no school,
    # no GP, no involvement of any kind, no contact details
    assert (paths_in(decision.data) | set(decision.shared)) <= SHIELD_FIELDS


# --- nothing is delivered without a stored permit -------------------------------------------

class Recorder:
    """A transport standing in for every partner: records what the courier sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.headers["Idempotency-Key"])
        return httpx.Response(201, json={"status": "applied"})


@pytest.fixture
def quiet_hub(tmp_path: Path) -> Hub:
    """An embedded hub with no worker running: the test drives processing and delivery itself."""
    hub = bootstrap(make_settings(tmp_path, "embedded"), migrate=True)
    with hub.database.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system", "http://caf.test", allowed_out=[])
        register(session, "youth-service", "Northfield Youth Service", "partner", "http://youth.test")
        register(session, "young-carers", "Young Carers Group", "partner", "http://carers.test")
    yield hub
    hub.close()


children = itertools.count(1)
AGENCIES = ("youth-service", "young-carers")
SETUPS = ("nothing", "consent", "expired consent", "gateway", "withdrawn at once")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.tuples(st.sampled_from(SETUPS), st.sampled_from(SETUPS)), st.tuples(st.booleans(), st.booleans()))
def test_nothing_is_ever_delivered_without_a_stored_permit_decision(
    quiet_hub, setups, withdraw_after_planning,
):
    hub, sharing, number = quiet_hub, quiet_hub.sharing, next(children)
    child = hannah(identifiers=ChildIdentifiers(caf_child_id=f"CAF-P-{number}"))
    subjects = sharing.subjects.keys_for(child.identifiers)
    consent_ids: dict[str, str] = {}
    with hub.database.transaction() as session:
        for agency, setup in zip(AGENCIES, setups, strict=True):
            consent_ids[agency] = _arrange(session, sharing.register, subjects, agency, setup)
    message = episode(1, child=child).model_copy(update={"source_message_id": f"property-{number}"})
    feed(hub, message)
    hub.processor.process(message.message_id)
    with hub.database.transaction() as session:
        for agency, withdraw in zip(AGENCIES, withdraw_after_planning, strict=True):
            if withdraw and consent_ids[agency]:
                sharing.register.withdraw(session, consent_ids[agency], GivenBy.CHILD, "no", "test")
    arranged = dict(zip(AGENCIES, zip(setups, withdraw_after_planning, strict=True), strict=True))
    recorder = Recorder()
    with hub.database.read() as session:
        planned = session.execute(
            select(Delivery).where(Delivery.message_id == message.message_id)).scalars().all()
    with httpx.Client(transport=httpx.MockTransport(recorder)) as client:
        for delivery in planned:
            hub.courier.deliver(delivery.delivery_id, client)

    with hub.database.read() as session:
        for delivery_id in recorder.sent:
            delivery = session.get(Delivery, delivery_id)
            disclosure = session.execute(select(AuditEntry).where(
                AuditEntry.action == "disclosure",
                AuditEntry.detail["delivery_id"].as_string() == delivery_id,
            )).scalar_one()
            acted_on = session.get(Decision, disclosure.detail["decision_id"])
            assert delivery.status == "delivered"
            assert acted_on.outcome == session.get(Decision, delivery.decision_id).outcome == "permit"
            assert acted_on.decided_at <= disclosure.recorded_at
            setup, withdrawn = arranged[delivery.destination]
            assert setup == "gateway" or (setup == "consent" and not withdrawn)
        for delivery in planned:
            assert session.get(Decision, delivery.decision_id).outcome == "permit"


def _arrange(session, register, subjects, agency: str, setup: str) -> str:  # type: ignore[no-untyped-def]
    scope = parse_scope([f"agency:{agency}"])
    if setup == "gateway":
        register.record_gateway(session, GatewayRequest(
            subjects=subjects, gateway=Gateway.S10_S11_DUTY_TO_COOPERATE,
            purposes=frozenset({ConsentPurpose.TAC_SHARING}), scope=scope, decided_by="P-TM-03",
            decided_by_role="Team manager", reason="co-operation", decided_at=NOW), "test")
        return ""
    if setup == "nothing":
        return ""
    row = register.record_consent(session, ConsentRequest(
        subjects=subjects, purpose=ConsentPurpose.TAC_SHARING, given_by=GivenBy.CHILD, scope=scope,
        method=ConsentMethod.WRITTEN, given_at=NOW - timedelta(days=10), competent=True,
        expires_at=NOW - timedelta(days=1) if setup == "expired consent" else None), "test")
    if setup == "withdrawn at once":
        register.withdraw(session, row.consent_id, GivenBy.CHILD, "no", "test")
        return ""
    return row.consent_id



def reference_minimise(model: BaseModel, allowed: frozenset[DataCategory], withhold, prefix: str = "",
                       out: tuple[list, list] | None = None) -> tuple[dict, list, list]:
    """The minimisation rule written the plain way, to hold the compiled one to."""
    shared, withheld = out if out is not None else ([], [])
    kept: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None or value == []:
            continue
        path = f"{prefix}{name}"
        category = type(model).model_fields[name].json_schema_extra["x-data-category"]
        if DataCategory(category) not in allowed or (withhold is not None and withhold(path)):
            withheld.append(path)
        elif isinstance(value, BaseModel):
            if inner := reference_minimise(value, allowed, withhold, f"{path}.", (shared, withheld))[0]:
                kept[name] = inner
        elif isinstance(value, list) and isinstance(value[0], BaseModel):
            items = [i for item in value
                     if (i := reference_minimise(item, allowed, withhold, f"{path}.", (shared, withheld))[0])]
            if items:
                kept[name] = items
        else:
            kept[name] = json.loads(json.dumps(value, default=lambda v: getattr(v, "value", None)
                                               or v.isoformat()))
            shared.append(path)
    return kept, shared, withheld


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(EVENT_CLASSES).flatmap(model_strategy), category_sets,
       st.sampled_from([None, lambda path: path not in SHIELD_FIELDS]))
def test_the_compiled_minimiser_keeps_exactly_what_the_plain_rule_keeps(event, allowed, withhold):
    result = minimise(event, allowed, withhold)
    assert (result.data, result.shared, result.withheld) == reference_minimise(event, allowed, withhold)
