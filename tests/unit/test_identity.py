"""Identity resolution: strong identifiers first, exact demographics next, a person for the rest."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from consent.subjects import SubjectKeys
from hub.canonical import Envelope
from hub.canonical.people import Address, Child, ChildIdentifiers, Gender, PersonName
from hub.crypto import KeyRing, new_key_spec
from hub.identity import IdentityResolver
from hub.store.tables import ChildRecord, IdentityReview, InboxMessage


def hannah(**identifiers: str) -> Child:
    return Child(
        identifiers=ChildIdentifiers(**identifiers), name=PersonName(given="Hannah", family="Example"),
        date_of_birth=date(2011, 3, 14), gender=Gender.FEMALE,
        address=Address(postcode="NF1 2AB"),
    )


@pytest.fixture
def resolver(db):
    keyring = KeyRing.parse(new_key_spec("t"))
    subjects = SubjectKeys(db, keyring)
    subjects.load()
    return IdentityResolver(subjects)


@pytest.fixture
def resolve(db, resolver):
    counter = iter(range(1, 1000))

    def run(child: Child, system: str = "caf-national"):
        message_id = f"00000000-0000-0000-0000-{next(counter):012d}"
        with db.transaction() as session:
            session.add(InboxMessage(
                message_id=message_id, source_system=system, source_message_id=message_id,
                correlation_id=message_id, message_type="t", status="accepted",
                received_at=Envelope.model_fields["received_at"].default_factory(),
                key_id="t", envelope_sealed=b"", raw_sealed=b"",
            ))
            session.flush()
            return resolver.resolve(session, child, system, message_id)

    with db.transaction() as session:
        from hub.registry import register

        register(session, "caf-national", "N", "caf_system")
        register(session, "caf-local", "L", "caf_system")
        register(session, "case-system", "C", "case_system", "http://case.test")
    return run


def test_a_child_seen_first_opens_a_record_and_the_same_nhs_number_finds_it_again(resolve):
    first = resolve(hannah(nhs_number="9434765919"))
    again = resolve(hannah(nhs_number="943 476 5919"), system="case-system")

    assert first.outcome == "new"
    assert (again.outcome, again.child_id) == ("identified", first.child_id)


def test_identifiers_learnt_with_a_match_identify_the_child_later(resolve):
    first = resolve(hannah(nhs_number="9434765919"))
    resolve(hannah(nhs_number="9434765919", directory_id="DIR-7781"))

    later = resolve(hannah(directory_id="DIR-7781"))

    assert (later.outcome, later.child_id) == ("identified", first.child_id)


def test_identifiers_of_two_different_children_go_to_review(resolve, db):
    resolve(hannah(nhs_number="9434765919"))
    resolve(Child(identifiers=ChildIdentifiers(directory_id="DIR-9"),
                  name=PersonName(given="Sam", family="Other"), date_of_birth=date(2015, 1, 1)))

    both = resolve(hannah(nhs_number="9434765919", directory_id="DIR-9"))

    assert both.outcome == "review"
    assert "different children" in both.reason
    with db.read() as session:
        review = session.get(IdentityReview, both.review_id)
    assert len(review.candidates) == 2 and review.status == "open"


def test_a_known_child_with_a_different_nhs_number_goes_to_review(resolve):
    resolve(hannah(nhs_number="9434765919", directory_id="DIR-7781"))

    clash = resolve(hannah(nhs_number="4010232137", directory_id="DIR-7781"))

    assert clash.outcome == "review"
    assert "nhs number differs" in clash.reason


def test_without_identifiers_an_exact_demographic_match_links(resolve):
    first = resolve(hannah(nhs_number="9434765919"))
    child = hannah().model_copy(update={"name": PersonName(given="HANNAH ", family="Exámple")})

    matched = resolve(child, system="case-system")

    assert (matched.outcome, matched.child_id) == ("matched-demographics", first.child_id)


def test_a_near_match_is_never_linked_but_reviewed(resolve, db):
    def db_candidates(result):  # type: ignore[no-untyped-def]
        with db.read() as session:
            return session.get(IdentityReview, result.review_id).candidates

    first = resolve(hannah(nhs_number="9434765919"))
    moved = hannah().model_copy(update={"address": Address(postcode="ZZ9 9ZZ")})

    near = resolve(moved, system="case-system")

    assert near.outcome == "review" and near.child_id is None
    assert db_candidates(near) == [first.child_id]
    assert "possible match" in near.reason


def test_a_shielded_child_without_a_strong_match_is_matched_by_hand_not_created(resolve, db):
    shielded = hannah(caf_child_id="CAF-1").model_copy(update={"shielded": True})

    result = resolve(shielded)

    assert result.outcome == "review" and "shielded" in result.reason
    with db.read() as session:
        assert session.execute(select(ChildRecord)).first() is None


def test_too_little_to_go_on_is_reviewed(resolve):
    vague = Child(identifiers=ChildIdentifiers(), name=PersonName(given="H", family="E"))

    assert resolve(vague).outcome == "review"


def test_local_ids_are_scoped_to_their_system(resolve):
    a = resolve(Child(identifiers=ChildIdentifiers(caf_child_id="C-1"),
                      name=PersonName(given="Ann", family="One"), date_of_birth=date(2012, 1, 1),
                      gender=Gender.FEMALE, address=Address(postcode="A1 1AA")))
    b = resolve(Child(identifiers=ChildIdentifiers(caf_child_id="C-1"),
                      name=PersonName(given="Bob", family="Two"), date_of_birth=date(2013, 2, 2),
                      gender=Gender.MALE, address=Address(postcode="B2 2BB")), system="caf-local")

    assert a.outcome == b.outcome == "new"
    assert a.child_id != b.child_id


def test_a_reviewer_links_the_record_and_it_is_identified_from_then_on(resolve, resolver, db):
    first = resolve(hannah(nhs_number="9434765919"))
    moved = hannah(upn="A801200012345").model_copy(update={"address": Address(postcode="ZZ9 9ZZ")})
    review = resolve(moved, system="case-system")

    with db.transaction() as session:
        linked = resolver.decide(session, review.review_id, moved, "duty-manager", first.child_id)
    later = resolve(hannah(upn="A801200012345"))

    assert linked == first.child_id
    assert (later.outcome, later.child_id) == ("identified", first.child_id)
    with db.read() as session:
        decided = session.get(IdentityReview, review.review_id)
    assert (decided.status, decided.decided_by) == ("linked", "duty-manager")


def test_the_cross_reference_holds_no_readable_identifier(resolve, db):
    resolve(hannah(nhs_number="9434765919", directory_id="DIR-7781"))

    with db.read() as session:
        rows = session.execute(text("SELECT * FROM child_links")).all()
        rows += session.execute(text("SELECT * FROM child_demographics")).all()
    dump = repr(rows)
    assert rows and "9434765919" not in dump and "DIR-7781" not in dump and "Hannah" not in dump
