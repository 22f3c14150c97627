"""Step-up end to end: Hannah's CAF referral into social care, on both backends.

The CAF system refers; the case system receives the referral with the CAF content as draft
evidence and its provenance; the CAF system adds the duty team to the TAC and marks the episode;
the directory shows social care involved and nothing else; the referrer is told it arrived.
Then the case system allocates John and decides: the TAC gains John, the referrer hears the
outcome, and every message of the referral shares one correlation id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from hub.api.app import create_app
from hub.bootstrap import bootstrap
from hub.canonical.casework import ReferralOutcome
from hub.canonical.events import CaseAllocated, ReferralDecided
from hub.canonical.people import Child, ChildIdentifiers, Gender, PersonName, Practitioner
from hub.cli_identity import decide_review
from hub.registry import register
from hub.store.tables import IdentityReview, InboxMessage, ReferralRecord
from mappings.layers import GOLDEN_DIR
from simulators.caf_system import CafSystemSimulator
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator, text
from simulators.server import ServerThread
from tests.conftest import delete_queues, make_settings
from tests.integration.helpers import eventually, settled, status

REFERRAL = GOLDEN_DIR / "caf_system/standard/referral-to-social-care/hannah-step-up/wire.xml"
CAF = {"c": "urn:childrens-hub:caf:1"}
ICS = {"a": "urn:supplier-a:ics:2"}
HANNAH = Child(identifiers=ChildIdentifiers(nhs_number="9434765919", la_child_id="7005501"),
               name=PersonName(given="Hannah", family="Example"), date_of_birth=date(2011, 3, 14),
               gender=Gender.FEMALE)
JOHN = Practitioner(practitioner_id="SW-JOHN", name=PersonName(given="John", family="Carter"),
                    role="Social worker", agency="Children's social care", team="Assessment team")


@dataclass
class StepUpHub:
    url: str
    hub: object
    caf_token: str
    case_token: str
    caf: CafSystemSimulator
    case: CaseSystemSimulator
    directory: DirectorySimulator

    def caf_messages(self, root: str) -> list[etree._Element]:
        with self.caf.state.lock:
            bodies = [item.body for item in self.caf.state.received]
        docs = [etree.fromstring(body.encode()) for body in bodies]
        return [d for d in docs if etree.QName(d).localname == root]


@pytest.fixture
def step_up_hub(tmp_path: Path, backend: str, backend_database_url: str | None):
    settings = make_settings(tmp_path, backend, backend_database_url,
                             duty_team_phone="01632 960500", duty_team_email="duty@csc.example")
    caf, case, directory = CafSystemSimulator(), CaseSystemSimulator("supplier-a"), DirectorySimulator()
    servers = [ServerThread(peer.app).start() for peer in (caf, case, directory)]
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, "caf-national", "National eCAF", "caf_system", servers[0].url).token
        case_token = register(session, "lcs", "Children's social care", "case_system", servers[1].url,
                              profile="supplier-a").token
        register(session, "directory", "Directory", "directory", servers[2].url)
    from hub.worker import Worker

    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()
    try:
        yield StepUpHub(api.url, hub, caf_token, case_token, caf, case, directory)
    finally:
        api.stop()
        worker.stop()
        for server in servers:
            server.stop()
        delete_queues(hub, ["caf-national", "lcs", "directory"])
        hub.close()


def why(final: dict) -> list[tuple[str, str, str]]:
    return [(d["destination"], d["outcome"], d["reason"]) for d in final["decisions"]]


def sent_today(body: bytes) -> bytes:
    """The golden referral is dated January 2027; the end-to-end story happens now."""
    return body.replace(b"2027-01-", b"2026-11-")


def refer(step_up_hub: StepUpHub, body: bytes) -> str:
    reply = CafSystemSimulator.send(step_up_hub.url, "caf-national", step_up_hub.caf_token, body)
    assert reply.status_code == 202, reply.text
    return reply.json()["tracking_id"]


def test_hannah_steps_up_into_social_care_and_the_referrer_hears_the_outcome(step_up_hub):
    tracking_id = refer(step_up_hub, sent_today(REFERRAL.read_bytes()))
    final = settled(step_up_hub.url, step_up_hub.caf_token, tracking_id)

    assert final["status"] == "processed", final.get("hold_reason")
    assert {d["status"] for d in final["deliveries"]} == {"delivered"}, why(final)
    assert {(d["destination"], d["message_type"]) for d in final["deliveries"]} == {
        ("lcs", "referral-to-social-care"), ("caf-national", "tac-member-added"),
        ("caf-national", "responsibility-transferred"), ("caf-national", "referral-acknowledged"),
        ("directory", "involvement-changed")}, why(final)
    # the case system holds the referral, with the CAF as draft evidence and its provenance
    [received] = step_up_hub.case.state.received
    referral = etree.fromstring(received.body.encode())
    evidence = referral.xpath("//a:sourceEpisode", namespaces=ICS)
    assert len(evidence) >= 10, "the CAF content travels as draft evidence, item by item"
    assert {e.get("episodeRef") for e in evidence} == {"EP-2031"}
    # the CAF system: the duty team on the TAC, the episode social care's responsibility, an ack
    [joined] = step_up_hub.caf_messages("tacMemberAdded")
    assert joined.findtext("c:member/c:practitionerId", namespaces=CAF) == "CSC-DUTY"
    [transferred] = step_up_hub.caf_messages("responsibilityTransferred")
    assert transferred.find("c:episode", namespaces=CAF).get("id") == "EP-2031"
    [ack] = step_up_hub.caf_messages("referralAcknowledged")
    assert ack.findtext("c:trackingId", namespaces=CAF) == tracking_id
    assert ack.find("c:outcome", namespaces=CAF) is None
    # the directory: social care involved, the team's contact, nothing of the case
    [involvement] = step_up_hub.directory.updates()
    assert etree.QName(involvement).localname == "involvementUpdate"
    assert text(involvement, "d:involvement/d:service") == "Children's social care"
    assert text(involvement, "d:involvement/d:practitioner/d:contact/d:phone") == "01632 960500"
    feed = etree.tostring(involvement).decode()
    assert "reason" not in feed.lower() and "assessment" not in feed.lower()

    # the case system allocates John, then decides: initial assessment
    allocated = step_up_hub.case.send(step_up_hub.url, "lcs", step_up_hub.case_token, CaseAllocated(
        child=HANNAH, case_id="CASE-8841", social_worker=JOHN, allocated_on=date(2026, 11, 23)))
    assert allocated.status_code == 202, allocated.text
    eventually(lambda: len(step_up_hub.caf_messages("tacMemberAdded")) == 2, what="John on the TAC")
    reference = referral.xpath("string(//a:contact/a:externalRef)", namespaces=ICS)
    assert reference
    decided = step_up_hub.case.send(step_up_hub.url, "lcs", step_up_hub.case_token, ReferralDecided(
        child=HANNAH, referral_id=reference, outcome=ReferralOutcome.INITIAL_ASSESSMENT,
        decided_on=date(2026, 11, 24)))
    assert decided.status_code == 202, decided.text
    eventually(lambda: len(step_up_hub.caf_messages("referralAcknowledged")) == 2,
               what="the outcome back to the referrer")

    john = step_up_hub.caf_messages("tacMemberAdded")[1]
    assert john.findtext("c:member/c:practitionerId", namespaces=CAF) == "SW-JOHN"
    outcome = step_up_hub.caf_messages("referralAcknowledged")[1]
    assert outcome.findtext("c:outcome", namespaces=CAF) == "initial-assessment"
    assert outcome.findtext("c:trackingId", namespaces=CAF) == tracking_id
    with step_up_hub.hub.database.read() as session:
        ledger = session.get(ReferralRecord, tracking_id)
        story = session.execute(select(InboxMessage.message_type).where(
            InboxMessage.correlation_id == ledger.correlation_id)).scalars().all()
    assert (ledger.status, ledger.outcome) == ("decided", "initial-assessment")
    assert story == ["referral-to-social-care"]


def another(body: bytes, number: int, referral: str | None = None) -> bytes:
    """The same referral as a new message from the CAF system (a new message id)."""
    body = body.replace(b'messageId="caf-msg-0131"', f'messageId="caf-msg-9{number:03d}"'.encode())
    if referral:
        body = body.replace(b"<referralId>REF-CAF-0107</referralId>",
                            f"<referralId>{referral}</referralId>".encode())
    return body


def test_a_second_referral_while_one_is_open_is_linked_as_a_re_referral_not_duplicated(step_up_hub):
    hannah = sent_today(REFERRAL.read_bytes())
    first = refer(step_up_hub, hannah)
    settled(step_up_hub.url, step_up_hub.caf_token, first)

    second = refer(step_up_hub, another(hannah, 2, "REF-CAF-0199"))
    final = settled(step_up_hub.url, step_up_hub.caf_token, second)

    assert {(d["destination"], d["message_type"]) for d in final["deliveries"]} == {
        ("lcs", "referral-to-social-care"), ("caf-national", "referral-acknowledged")}
    with step_up_hub.hub.database.read() as session:
        ledger = session.get(ReferralRecord, second)
    assert ledger.previous_referral_id == first
    assert len(step_up_hub.case.state.received) == 2
    assert len(step_up_hub.caf_messages("tacMemberAdded")) == 1
    assert len(step_up_hub.directory.updates()) == 1


def test_a_child_the_hub_cannot_identify_is_held_for_review_and_the_referrer_told(step_up_hub):
    hannah = sent_today(REFERRAL.read_bytes())
    settled(step_up_hub.url, step_up_hub.caf_token, refer(step_up_hub, hannah))
    unsure = another(hannah, 3, "REF-CAF-0300")
    for known in (b"<nhsNumber>9434765919</nhsNumber>", b"<directoryId>DIR-7781</directoryId>"):
        unsure = unsure.replace(known, b"")
    unsure = unsure.replace(b"CAF-C-0042", b"CAF-C-0999").replace(b"NF1 4HX", b"NF9 9ZZ")

    tracking_id = refer(step_up_hub, unsure)
    held = eventually(lambda: (s := status(step_up_hub.url, step_up_hub.caf_token, tracking_id))
                      ["status"] == "held" and s, what="the referral to be held")

    assert "could not be identified" in held["hold_reason"]
    with step_up_hub.hub.database.read() as session:
        [review] = session.execute(select(IdentityReview).where(
            IdentityReview.message_id == tracking_id)).scalars().all()
    assert review.status == "open" and len(review.candidates) == 1
    eventually(lambda: len(step_up_hub.caf_messages("referralAcknowledged")) == 2, what="the ack")
    told = step_up_hub.caf_messages("referralAcknowledged")[1]
    assert "could not be identified" in told.findtext("c:heldReason", namespaces=CAF)
    assert len(step_up_hub.case.state.received) == 1

    # a person decides it is the same Hannah: the held referral goes on, as a re-referral
    decide_review(step_up_hub.hub, review.review_id, review.candidates[0], "duty-manager")
    eventually(lambda: status(step_up_hub.url, step_up_hub.caf_token, tracking_id)["status"]
               == "processed", what="the released referral to be processed")
    eventually(lambda: len(step_up_hub.case.state.received) == 2, what="the released referral")
    with step_up_hub.hub.database.read() as session:
        assert session.get(ReferralRecord, tracking_id).previous_referral_id is not None


def test_a_referral_without_consent_or_gateway_is_held_and_the_referrer_told_why(step_up_hub):
    no_consent = sent_today(REFERRAL.read_bytes()).replace(
        b"<purpose>referral-to-social-care</purpose>", b"")

    tracking_id = refer(step_up_hub, no_consent)
    held = eventually(lambda: (s := status(step_up_hub.url, step_up_hub.caf_token, tracking_id))
                      ["status"] == "held" and s, what="the referral to be held")

    assert "no consent or legal gateway covers referral-to-social-care" in held["hold_reason"]
    eventually(lambda: step_up_hub.caf_messages("referralAcknowledged"), what="the ack")
    [told] = step_up_hub.caf_messages("referralAcknowledged")
    assert "no consent or legal gateway" in told.findtext("c:heldReason", namespaces=CAF)
    assert step_up_hub.case.state.received == []
    assert step_up_hub.caf_messages("tacMemberAdded") == []
    assert step_up_hub.directory.updates() == []


def test_a_supplier_code_the_authority_does_not_know_is_refused_naming_code_and_list(step_up_hub):
    overrides = step_up_hub.hub.settings.mappings_dir
    (overrides / "code_lists").mkdir(parents=True)
    (overrides / "code_lists/supplier-a-referral-outcome.yaml").write_text(
        "id: supplier-a-referral-outcome\nversion: la-1\nentries: {}\nremove: [section-47]\n")
    time.sleep(1.1)
    reply = step_up_hub.case.send(step_up_hub.url, "lcs", step_up_hub.case_token, ReferralDecided(
        child=HANNAH, referral_id="REF-CAF-0107", outcome=ReferralOutcome.SECTION_47,
        decided_on=date(2026, 11, 24)))

    assert reply.status_code == 422
    [error] = reply.json()["errors"]
    assert "is not a code of supplier-a-referral-outcome" in error["message"]
    assert "S47" in error["message"] or "s47" in error["message"].lower()
    assert error["field"].endswith("outcome") or "outcome" in error["field"].lower()
