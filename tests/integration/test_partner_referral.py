"""A partner agency's referral with no CAF: a GP's FHIR referral reaches the case system (supplier
B's JSON API), the directory shows social care involved, and the GP's system is told it arrived
and, later, what was decided, as FHIR Tasks. Without consent or a gateway it is held, and the GP
is told why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml

from hub.api.app import create_app
from hub.bootstrap import bootstrap
from hub.canonical.casework import ReferralOutcome
from hub.canonical.events import ReferralDecided
from hub.canonical.people import Child, ChildIdentifiers, Gender, PersonName
from hub.registry import register
from hub.worker import Worker
from mappings.layers import BASE_DIR as MAPPINGS
from mappings.layers import GOLDEN_DIR
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.peer import PeerState, peer_app
from simulators.server import ServerThread
from tests.conftest import delete_queues, make_settings
from tests.integration.helpers import eventually, settled, status

SECTION_47 = yaml.safe_load((MAPPINGS / "code_lists/fhir-referral-outcome.yaml").read_text())[
    "entries"]["section-47"]
GP_REFERRAL = GOLDEN_DIR / "partner/health-fhir/partner-referral/hannah-gp-referral/wire.json"
HANNAH = Child(identifiers=ChildIdentifiers(nhs_number="9434765919"),
               name=PersonName(given="Hannah", family="Example"), date_of_birth=date(2011, 3, 14),
               gender=Gender.FEMALE)


@dataclass
class PartnerHub:
    url: str
    gp_token: str
    case_token: str
    gp: PeerState
    case: CaseSystemSimulator
    directory: DirectorySimulator

    def tasks(self) -> list[dict]:
        with self.gp.lock:
            bundles = [item.body for item in self.gp.received]
        return [entry["resource"] for bundle in bundles for entry in bundle["entry"]
                if entry["resource"]["resourceType"] == "Task"]


@pytest.fixture
def partner_hub(tmp_path: Path, backend: str, backend_database_url: str | None):
    settings = make_settings(tmp_path, backend, backend_database_url)
    gp, case, directory = PeerState(), CaseSystemSimulator("supplier-b"), DirectorySimulator()
    servers = [ServerThread(peer_app("GP practice", gp)).start(), ServerThread(case.app).start(),
               ServerThread(directory.app).start()]
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        gp_token = register(session, "northfield-medical", "Northfield Medical Practice", "partner",
                            servers[0].url, profile="health-fhir").token
        case_token = register(session, "lcs", "Children's social care", "case_system",
                              servers[1].url, profile="supplier-b").token
        register(session, "directory", "Directory", "directory", servers[2].url)
    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()
    try:
        yield PartnerHub(api.url, gp_token, case_token, gp, case, directory)
    finally:
        api.stop()
        worker.stop()
        for server in servers:
            server.stop()
        delete_queues(hub, ["northfield-medical", "lcs", "directory"])
        hub.close()


def send_referral(partner_hub: PartnerHub) -> str:
    body = GP_REFERRAL.read_bytes().replace(b"2027-01-", b"2026-11-")
    reply = httpx.post(f"{partner_hub.url}/v1/systems/northfield-medical/messages", content=body,
                       headers={"Authorization": f"Bearer {partner_hub.gp_token}",
                                "Content-Type": "application/fhir+json"}, timeout=30)
    assert reply.status_code == 202, reply.text
    return reply.json()["tracking_id"]


def test_a_gps_referral_reaches_the_case_system_and_the_gp_hears_the_outcome(partner_hub):
    gateway = httpx.post(f"{partner_hub.url}/v1/gateways", timeout=30,
                         headers={"Authorization": f"Bearer {partner_hub.gp_token}"}, json={
        "child": {"nhs_number": "9434765919"}, "gateway": "s10-s11-duty-to-cooperate",
        "purposes": ["referral-to-social-care"], "scope": ["kind:case_system"],
        "decided_by": "GP-DR-PATEL", "decided_by_role": "GP safeguarding lead",
        "reason": "concerns for a young carer's wellbeing", "decided_at": "2026-11-20T09:00:00+00:00"})
    assert gateway.status_code == 201, gateway.text

    tracking_id = send_referral(partner_hub)
    final = settled(partner_hub.url, partner_hub.gp_token, tracking_id)

    assert {(d["destination"], d["message_type"], d["status"]) for d in final["deliveries"]} == {
        ("lcs", "referral-to-social-care", "delivered"),
        ("northfield-medical", "referral-acknowledged", "delivered"),
        ("directory", "involvement-changed", "delivered")}
    [received] = partner_hub.case.state.received
    contact = received.body
    assert contact["messageType"] == "contactReferral"
    assert contact["referral"]["externalReference"] == "NMP-REF-0042"
    assert "cafEpisode" not in contact["referral"]
    [received_task] = partner_hub.tasks()
    assert (received_task["status"], received_task["identifier"][0]["value"]) == ("received", tracking_id)

    partner_hub.case.send(partner_hub.url, "lcs", partner_hub.case_token, ReferralDecided(
        child=HANNAH, referral_id="NMP-REF-0042", outcome=ReferralOutcome.SECTION_47,
        decided_on=date(2026, 11, 21)))
    eventually(lambda: len(partner_hub.tasks()) == 2, what="the outcome back to the GP")

    decided = partner_hub.tasks()[1]
    assert decided["status"] == "completed"
    assert decided["identifier"][0]["value"] == tracking_id
    assert decided["businessStatus"]["coding"][0]["code"] == SECTION_47


def test_a_gps_referral_without_consent_or_gateway_is_held_and_the_gp_told_why(partner_hub):
    tracking_id = send_referral(partner_hub)

    held = eventually(lambda: (s := status(partner_hub.url, partner_hub.gp_token, tracking_id))
                      ["status"] == "held" and s, what="the referral to be held")

    assert "no consent or legal gateway" in held["hold_reason"]
    eventually(partner_hub.tasks, what="the GP to be told")
    [task] = partner_hub.tasks()
    assert "no consent or legal gateway" in task["statusReason"]["text"]
    assert partner_hub.case.state.received == []
