"""The consent register: validation, sealing, subject keys, CAF consent statements, withdrawal."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from consent.register import ConsentRegister, ConsentRequest, GatewayRequest, RegisterError
from consent.subjects import SubjectKeys
from consent.vocabulary import ConsentMethod, ConsentPurpose, Gateway, GivenBy, parse_scope
from hub.canonical.people import ChildIdentifiers
from hub.crypto import KeyRing, new_key_spec
from hub.store.database import Database
from hub.store.tables import AuditEntry, ConsentRecord, HubSecret
from tests.consent.story import CAF_CHILD_ID, NHS_NUMBER, episode, hannah, statement

GIVEN = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.parse(new_key_spec("k1"))


@pytest.fixture
def register(db: Database, keyring: KeyRing) -> ConsentRegister:
    subjects = SubjectKeys(db, keyring)
    subjects.load()
    return ConsentRegister(keyring, subjects)


def only_entry(session, action: str) -> AuditEntry:  # type: ignore[no-untyped-def]
    return session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalar_one()


def hannahs(register: ConsentRegister) -> tuple[str, ...]:
    return register.subjects.keys_for(ChildIdentifiers(nhs_number=NHS_NUMBER, caf_child_id=CAF_CHILD_ID))


def request(register: ConsentRegister, **changes: object) -> ConsentRequest:
    values: dict[str, object] = dict(
        subjects=hannahs(register), purpose=ConsentPurpose.TAC_SHARING, given_by=GivenBy.CHILD,
        scope=parse_scope(["agency:youth-service", "agency:young-carers"]), method=ConsentMethod.WRITTEN,
        given_at=GIVEN, competent=True, given_by_name="Hannah Example", competence_assessed_by="P-MEL-01",
    )
    values.update(changes)
    return ConsentRequest(**values)  # type: ignore[arg-type]


def test_subject_keys_are_keyed_hashes_that_a_plain_hash_of_the_identifier_does_not_match(register):
    key = register.subjects.key("nhs_number", NHS_NUMBER)
    assert key != hashlib.sha256(f"nhs_number:{NHS_NUMBER}".encode()).hexdigest()
    assert key == register.subjects.key("nhs_number", "943 476 5919")
    assert key != register.subjects.key("caf_child_id", NHS_NUMBER)


def test_the_subject_key_secret_is_made_once_and_kept_sealed_in_the_store(db: Database, keyring: KeyRing):
    first, second = SubjectKeys(db, keyring), SubjectKeys(db, keyring)
    assert first.load() and second.load()
    assert first.key("upn", "A123") == second.key("upn", "a123")
    with db.read() as session:
        [row] = session.execute(select(HubSecret)).scalars().all()
    assert first.secret not in row.secret_sealed


def test_a_consent_is_stored_sealed_and_audited_by_subject_key_without_names(db, register):
    with db.transaction() as session:
        row = register.record_consent(session, request(register), "caf-national")
    with db.read() as session:
        stored = session.get(ConsentRecord, row.consent_id)
        entry = only_entry(session, "consent.recorded")
    assert b"Hannah" not in stored.details_sealed
    assert register.details(stored)["given_by_name"] == "Hannah Example"
    assert entry.detail["subjects"] == sorted(hannahs(register))
    assert "Hannah" not in str(entry.detail)
    assert entry.detail["scope"] == ["agency:youth-service", "agency:young-carers"]


def test_the_register_finds_a_childs_consents_by_any_one_strong_identifier(db, register):
    with db.transaction() as session:
        register.record_consent(session, request(register), "caf-national")
    only_nhs = register.subjects.keys_for(ChildIdentifiers(nhs_number=NHS_NUMBER))
    someone_else = register.subjects.keys_for(ChildIdentifiers(nhs_number="4010232137"))
    with db.read() as session:
        assert len(register.state_for(session, only_nhs).consents) == 1
        assert register.state_for(session, someone_else).consents == ()


def test_a_childs_own_consent_needs_the_competence_judgement(db, register):
    with db.transaction() as session, pytest.raises(RegisterError, match="Gillick"):
        register.record_consent(session, request(register, competent=False), "caf-national")


def test_only_a_person_with_parental_responsibility_consents_for_the_child(db, register):
    with db.transaction() as session, pytest.raises(RegisterError, match="parental responsibility"):
        register.record_consent(session, request(register, given_by=GivenBy.PARENT,
                                                 parental_responsibility=False), "caf-national")


def test_a_sensitive_service_on_the_directory_needs_the_young_persons_own_consent(db, register):
    with db.transaction() as session, pytest.raises(RegisterError, match="own consent"):
        register.record_consent(session, request(
            register, given_by=GivenBy.PARENT, parental_responsibility=True,
            purpose=ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY), "caf-national")


def test_a_consent_without_a_scope_or_expiring_before_it_was_given_is_refused(db, register):
    with db.transaction() as session:
        with pytest.raises(RegisterError, match="scope"):
            register.record_consent(session, request(register, scope=()), "caf-national")
        with pytest.raises(RegisterError, match="expires after"):
            register.record_consent(session, request(register, expires_at=GIVEN - timedelta(days=1)),
                                    "caf-national")


def test_withdrawing_part_of_the_scope_keeps_the_rest_in_a_successor(db, register):
    with db.transaction() as session:
        row = register.record_consent(session, request(register), "caf-national")
    with db.transaction() as session:
        withdrawn, successor = register.withdraw(
            session, row.consent_id, GivenBy.CHILD, "does not want the group to see it", "caf-national",
            scope=parse_scope(["agency:young-carers"]),
        )
    assert withdrawn.withdrawn_at is not None
    assert successor.scope == ["agency:youth-service"]
    assert register.withdrawal(withdrawn)["reason"] == "does not want the group to see it"
    with db.read() as session:
        state = register.state_for(session, hannahs(register))
        entry = only_entry(session, "consent.withdrawn")
    assert {grant.consent_id for grant in state.consents} == {row.consent_id, successor.consent_id}
    assert entry.detail["successor"] == successor.consent_id
    assert "group to see" not in str(entry.detail)


def test_a_consent_cannot_be_withdrawn_twice(db, register):
    with db.transaction() as session:
        row = register.record_consent(session, request(register), "caf-national")
    with db.transaction() as session:
        register.withdraw(session, row.consent_id, GivenBy.CHILD, "no", "caf-national")
    with db.transaction() as session, pytest.raises(RegisterError, match="already withdrawn"):
        register.withdraw(session, row.consent_id, GivenBy.CHILD, "no", "caf-national")


def test_a_caf_consent_statement_is_registered_once_however_many_versions_repeat_it(db, register):
    given = statement(["caf-assessment", "tac-sharing"], agencies=["Northfield Youth Service"])
    with db.transaction() as session:
        first = register.observe(session, episode(1, given))
    with db.transaction() as session:
        again = register.observe(session, episode(2, given))
    assert len(first.recorded) == 2 and again.recorded == []
    with db.read() as session:
        state = register.state_for(session, hannahs(register))
    assert {(g.purpose.value, g.given_by.value, tuple(map(str, g.scope))) for g in state.consents} == {
        ("caf-assessment", "child", ("kind:caf_system", "agency:Northfield Youth Service")),
        ("tac-sharing", "child", ("agency:Northfield Youth Service",)),
    }


def test_a_caf_statement_from_the_mother_with_parental_responsibility_is_a_parents_consent(db, register):
    given = statement(["tac-sharing"], agencies=["Young Carers Group"], given_by="Mother", competence=None)
    with db.transaction() as session:
        [consent_id] = register.observe(session, episode(1, given)).recorded
        row = session.get(ConsentRecord, consent_id)
        assert (row.given_by, register.details(row)["given_by_name"]) == ("parent", "Jo Example")


def test_a_caf_statement_the_register_cannot_stand_behind_is_skipped_and_the_skip_audited(db, register):
    no_responsibility = hannah(carers=[])
    with db.transaction() as session:
        by_aunt = register.observe(session, episode(1, statement(["tac-sharing"], ["x"], given_by="aunt"),
                                                    child=no_responsibility))
        unjudged = statement(["tac-sharing"], ["x"], competence=None)
        no_judgement = register.observe(session, episode(2, unjudged))
    assert by_aunt.recorded == [] and no_judgement.recorded == []
    with db.read() as session:
        skips = session.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "consent.not-registered")
        ).scalars().all()
    assert [s["reasons"] for s in skips] == [
        ["the consent was not given by the child or a carer recorded with parental responsibility"],
        ["the child's consent carries no competence judgement"],
    ]


def gateway_request(register: ConsentRegister, **changes: object) -> GatewayRequest:
    values: dict[str, object] = dict(
        subjects=hannahs(register), gateway=Gateway.S47_SIGNIFICANT_HARM,
        purposes=frozenset({ConsentPurpose.REFERRAL_TO_SOCIAL_CARE}), scope=parse_scope(["kind:case_system"]),
        decided_by="P-TM-03", decided_by_role="Team manager", reason="younger children left alone",
        decided_at=GIVEN,
    )
    values.update(changes)
    return GatewayRequest(**values)  # type: ignore[arg-type]


def test_a_gateway_decision_needs_its_decision_maker_and_reason(db, register):
    with db.transaction() as session:
        with pytest.raises(RegisterError, match="reason"):
            register.record_gateway(session, gateway_request(register, reason=" "), "lcs")
        with pytest.raises(RegisterError, match="decision maker"):
            register.record_gateway(session, gateway_request(register, decided_by=""), "lcs")


def test_only_a_s47_gateway_may_put_a_sensitive_service_on_the_directory(db, register):
    with db.transaction() as session, pytest.raises(RegisterError, match="s47"):
        register.record_gateway(session, gateway_request(
            register, gateway=Gateway.S17_CHILD_IN_NEED,
            purposes=frozenset({ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY})), "lcs")


def test_a_gateway_reason_is_sealed_and_the_audit_holds_its_digest(db, register):
    with db.transaction() as session:
        row = register.record_gateway(session, gateway_request(register), "lcs")
    with db.read() as session:
        entry = only_entry(session, "gateway.recorded")
    assert register.reason(row) == "younger children left alone"
    assert b"alone" not in row.reason_sealed
    assert entry.detail["reason_digest"] == row.reason_digest
    assert (entry.detail["decided_by"], entry.detail["gateway"]) == ("P-TM-03", "s47-significant-harm")


def test_a_referral_consent_in_a_caf_covers_social_care_and_the_caf_system_it_came_from(db, register):
    given = statement(["referral-to-social-care"])
    with db.transaction() as session:
        [consent_id] = register.observe(session, episode(1, given)).recorded
        assert session.get(ConsentRecord, consent_id).scope == ["kind:case_system", "agency:caf-national"]


def test_the_state_read_in_a_transaction_includes_its_own_consents_not_yet_written(db, register):
    with db.transaction() as session, session.no_autoflush:
        register.record_consent(session, request(register), "caf-national")
        assert len(register.state_for(session, hannahs(register)).consents) == 1


def test_the_states_of_several_children_read_at_once_are_those_read_one_by_one(db, register):
    other = register.subjects.keys_for(ChildIdentifiers(nhs_number="4010232137", caf_child_id="CAF-C-0099"))
    nobody = register.subjects.keys_for(ChildIdentifiers(nhs_number="9434765870"))
    with db.transaction() as session:
        register.record_consent(session, request(register), "caf-national")
        referral = request(register, subjects=other, purpose=ConsentPurpose.REFERRAL_TO_SOCIAL_CARE)
        register.record_consent(session, referral, "caf-national")
        register.record_gateway(session, gateway_request(register), "case-system")
    children = [hannahs(register), other, nobody, hannahs(register)[:1]]
    with db.read() as session:
        one_by_one = [register.state_for(session, keys) for keys in children]
    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with db.read() as session:
        register.read_states(session, children)
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            at_once = [register.state_for(session, keys) for keys in children]
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert statements == []  # every state came from the one read
    for single, batched in zip(one_by_one, at_once, strict=True):
        assert sorted(single.consents, key=str) == sorted(batched.consents, key=str)
        assert sorted(single.gateways, key=str) == sorted(batched.gateways, key=str)
    assert len(at_once[0].consents) == 1 and len(at_once[0].gateways) == 1  # one record, two keys
    assert len(at_once[1].consents) == 1 and at_once[2].consents == () and at_once[2].gateways == ()
