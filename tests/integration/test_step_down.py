"""Step-down end to end, on both backends: social care closes Hannah's case and her TAC carries on.

Needs remaining with the episode open: the CAF system hands it back with Melanie proposed and the
closure summary the family agreed to share; Melanie's school and Lee's youth service are told;
the directory shows social care's involvement ended and Melanie as lead professional. Closed
episodes are asked to re-open (or re-assess) with the family's consent, or the request is held.
A closure with no needs remaining ends the involvement and tells the referrer, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.canonical.events import CaseAllocated
from hub.registry import register
from hub.store.tables import Decision, DecisionContext
from hub.worker import Worker
from mappings.layers import GOLDEN_DIR
from simulators.caf_system import CafSystemSimulator, episode_closed
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.hannah import (
    CLOSURE_SUMMARY,
    EPISODE,
    HANNAH,
    HANNAH_IN_SOCIAL_CARE,
    JOHN,
    MELANIE,
    case_closed,
    melanie_agreed,
)
from simulators.peer import PeerState, peer_app
from simulators.server import ServerThread
from tests.conftest import delete_queues, make_settings
from tests.integration.helpers import eventually, settled, status

REFERRAL = GOLDEN_DIR / "caf_system/standard/referral-to-social-care/hannah-step-up/wire.xml"
CLOSED_ON = date(2026, 11, 20)
PARTNERS = {"northfield-school": "Northfield School", "northfield-youth": "Northfield Youth Service"}


@dataclass
class StepDownHub:
    url: str
    hub: Hub
    caf_token: str
    case_token: str
    caf: CafSystemSimulator
    case: CaseSystemSimulator
    directory: DirectorySimulator
    partners: dict[str, PeerState]

    def refer(self, body: bytes) -> str:
        reply = CafSystemSimulator.send(self.url, "caf-national", self.caf_token, body)
        assert reply.status_code == 202, reply.text
        settled(self.url, self.caf_token, reply.json()["tracking_id"])
        return reply.json()["tracking_id"]

    def from_case_system(self, event: Any) -> dict:
        reply = self.case.send(self.url, "lcs", self.case_token, event)
        assert reply.status_code == 202, reply.text
        tracking_id = reply.json()["tracking_id"]
        return eventually(lambda: (s := status(self.url, self.case_token, tracking_id))["status"]
                          != "accepted" and all(d["status"] in ("delivered", "dead")
                                                for d in s["deliveries"]) and s,
                          what="the case system's message to settle")

    def notices(self, partner: str) -> list[dict]:
        with self.partners[partner].lock:
            return [item.body for item in self.partners[partner].received]


def sent_now(body: bytes) -> bytes:
    """The golden referral is dated January 2027; the story happens this November."""
    return body.replace(b"2027-01-", b"2026-11-")


def make_hub(tmp_path: Path, backend: str, database_url: str | None, **settings: Any):
    config = make_settings(tmp_path, backend, database_url, duty_team_phone="01632 960500", **settings)
    caf, case, directory = CafSystemSimulator(), CaseSystemSimulator("supplier-a"), DirectorySimulator()
    partners = {system_id: PeerState() for system_id in PARTNERS}
    servers = [ServerThread(app).start() for app in (
        caf.app, case.app, directory.app, *(peer_app(name, partners[i]) for i, name in PARTNERS.items()))]
    hub = bootstrap(config, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, "caf-national", "National eCAF", "caf_system", servers[0].url).token
        case_token = register(session, "lcs", "Children's social care", "case_system", servers[1].url,
                              profile="supplier-a").token
        register(session, "directory", "Directory", "directory", servers[2].url)
        for (system_id, name), server in zip(PARTNERS.items(), servers[3:], strict=True):
            register(session, system_id, name, "partner", server.url)
    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()

    def stop() -> None:
        api.stop()
        worker.stop()
        for server in servers:
            server.stop()
        delete_queues(hub, ["caf-national", "lcs", "directory", *PARTNERS])
        hub.close()

    return StepDownHub(api.url, hub, caf_token, case_token, caf, case, directory, partners), stop


@pytest.fixture
def step_down_hub(tmp_path: Path, backend: str, backend_database_url: str | None):
    running, stop = make_hub(tmp_path, backend, backend_database_url)
    try:
        yield running
    finally:
        stop()


@pytest.fixture
def closing_hub(tmp_path: Path, backend: str, backend_database_url: str | None):
    """The authority's step-up closes the CAF episode ("transfer to alternative holistic assessment")."""
    running, stop = make_hub(tmp_path, backend, backend_database_url, step_up_episode="close")
    try:
        yield running
    finally:
        stop()


def deliveries(final: dict) -> set[tuple[str, str, str]]:
    return {(d["destination"], d["message_type"], d["status"]) for d in final["deliveries"]}


def test_hannah_is_stepped_down_to_her_tac_with_melanie_proposed_as_lead_professional(step_down_hub):
    hub = step_down_hub
    reply = CafSystemSimulator.send(hub.url, "caf-national", hub.caf_token, melanie_agreed())
    settled(hub.url, hub.caf_token, reply.json()["tracking_id"])
    hub.refer(sent_now(REFERRAL.read_bytes()))
    hub.from_case_system(CaseAllocated(child=HANNAH_IN_SOCIAL_CARE, case_id="CASE-8841",
                                       social_worker=JOHN, allocated_on=date(2026, 11, 3)))

    final = hub.from_case_system(case_closed(CLOSED_ON))

    assert final["status"] == "processed", final.get("hold_reason")
    assert deliveries(final) == {
        ("caf-national", "step-down-requested", "delivered"),
        ("directory", "involvement-changed", "delivered"),
        ("northfield-school", "case-closure-notice", "delivered"),
        ("northfield-youth", "case-closure-notice", "delivered")}
    # the CAF system: the episode handed back, Melanie proposed, the summary the family agreed to
    episode = hub.caf.episodes()[EPISODE]
    assert episode["status"] == "open, handed back to the TAC"
    assert episode["proposed_lead_professional"] == MELANIE.practitioner_id
    assert episode["closure_summary"] == CLOSURE_SUMMARY
    # Melanie (former lead professional, who referred) and Lee are told, never why it closed
    for partner, who in (("northfield-school", "P-MEL-01"), ("northfield-youth", "P-LEE-02")):
        [notice] = hub.notices(partner)
        assert notice["type"] == "case-closure-notice"
        data = notice["data"]
        assert (data["next_step"], data["needs_remain"], data["closed_on"]) == (
            "hand-back", True, CLOSED_ON.isoformat())
        assert data["proposed_lead_professional"]["practitioner_id"] == MELANIE.practitioner_id
        assert "RC9" not in str(notice) and "reason" not in str(notice)
        assert who in {r["practitioner_id"] for r in recipients(hub, final, partner)}
    # the directory: social care's involvement ended (John's contact still shown), Melanie leads
    records, manual = hub.directory.records()
    record = records[HANNAH.directory_id]
    social_care = record.involvements["Children's social care"]
    assert social_care["end"] == CLOSED_ON.isoformat()
    assert social_care["practitioner"]["practitioner_id"] == "SW-JOHN"
    assert record.contact_visible("Children's social care", date(2027, 11, 1))
    assert not record.contact_visible("Children's social care", date(2027, 11, 21))
    assert record.lead_professional["practitioner_id"] == MELANIE.practitioner_id
    assert manual == []

    # the TAC agrees Melanie again as lead professional: the directory's flag stays with her, newer
    reply = CafSystemSimulator.send(hub.url, "caf-national", hub.caf_token,
                                    melanie_agreed("caf-msg-0301", version=7))
    settled(hub.url, hub.caf_token, reply.json()["tracking_id"])
    records, _ = hub.directory.records()
    assert records[HANNAH.directory_id].versions["leadProfessionalUpdate"] == 7
    assert records[HANNAH.directory_id].lead_professional["given"] == "Melanie"


def recipients(hub: StepDownHub, final: dict, partner: str) -> list[dict]:
    """The practitioners at ``partner`` the permitted notice was decided for."""
    with hub.hub.database.read() as session:
        decision_id = session.execute(select(Decision.decision_id).where(
            Decision.message_id == final["tracking_id"], Decision.destination == partner,
            Decision.outcome == "permit")).scalar_one()
        return list(session.get(DecisionContext, decision_id).recipients)


def test_a_closure_without_needs_remaining_ends_the_involvement_and_tells_the_referrer_only(step_down_hub):
    hub = step_down_hub
    hub.refer(sent_now(REFERRAL.read_bytes()))

    final = hub.from_case_system(case_closed(CLOSED_ON, reason="RC8", outstanding_needs=False))

    assert final["status"] == "processed"
    assert deliveries(final) == {("directory", "involvement-changed", "delivered"),
                                 ("caf-national", "case-closure-notice", "delivered")}
    [notice] = hub.caf.documents("caseClosureNotice")
    caf = {"c": "urn:childrens-hub:caf:1"}
    assert (notice.findtext("c:nextStep", namespaces=caf), notice.findtext("c:needsRemain", namespaces=caf),
            notice.findtext("c:referralId", namespaces=caf)) == ("none", "false", "REF-CAF-0107")
    assert notice.find("c:summary", namespaces=caf) is None
    assert hub.caf.documents("stepDownRequested") == []
    assert hub.notices("northfield-school") == hub.notices("northfield-youth") == []
    records, _ = hub.directory.records()
    assert records[HANNAH.directory_id].involvements["Children's social care"]["end"] == CLOSED_ON.isoformat()


def test_an_episode_step_up_closed_is_asked_to_re_open_with_the_familys_consent(closing_hub):
    hub = closing_hub
    hub.refer(sent_now(REFERRAL.read_bytes()))

    final = hub.from_case_system(case_closed(CLOSED_ON))

    assert final["status"] == "processed", final.get("hold_reason")
    assert ("caf-national", "step-down-requested", "delivered") in deliveries(final)
    assert hub.caf.episodes()[EPISODE]["status"] == "re-open requested"
    [notice] = hub.notices("northfield-youth")
    assert notice["data"]["next_step"] == "reopen"


def test_without_the_familys_consent_to_the_caf_the_re_open_request_is_held(closing_hub):
    hub = closing_hub
    hub.refer(sent_now(REFERRAL.read_bytes()).replace(b"<purpose>caf-assessment</purpose>", b""))

    final = hub.from_case_system(case_closed(CLOSED_ON))

    assert final["status"] == "held"
    assert "the request to re-open episode EP-2031 waits for the family's consent" in final["hold_reason"]
    assert "caf-assessment" in final["hold_reason"]
    assert hub.caf.documents("stepDownRequested") == []
    assert ("directory", "involvement-changed", "delivered") in deliveries(final)
    [notice] = hub.notices("northfield-school")
    assert notice["data"]["next_step"] == "awaiting-consent"


def test_an_episode_the_caf_system_closed_is_asked_for_a_re_assessment(step_down_hub):
    hub = step_down_hub
    hub.refer(sent_now(REFERRAL.read_bytes()))
    reply = CafSystemSimulator.send(hub.url, "caf-national", hub.caf_token,
                                    episode_closed(HANNAH, EPISODE, "family-disengaged", "2026-11-10"))
    assert reply.status_code == 202, reply.text
    eventually(lambda: status(hub.url, hub.caf_token, reply.json()["tracking_id"])["status"] == "processed",
               what="the episode's closure to be recorded")

    final = hub.from_case_system(case_closed(CLOSED_ON))

    assert ("caf-national", "step-down-requested", "delivered") in deliveries(final)
    assert hub.caf.episodes()[EPISODE]["status"] == "re-assessment requested"


def test_the_closure_summary_stays_back_when_the_family_did_not_agree_to_share_with_the_tac(step_down_hub):
    hub = step_down_hub
    hub.refer(sent_now(REFERRAL.read_bytes()).replace(b"<purpose>tac-sharing</purpose>", b""))

    final = hub.from_case_system(case_closed(CLOSED_ON))

    assert ("caf-national", "step-down-requested", "delivered") in deliveries(final)
    episode = hub.caf.episodes()[EPISODE]
    assert episode["status"] == "open, handed back to the TAC"
    assert episode["closure_summary"] is None
    assert hub.notices("northfield-school") == hub.notices("northfield-youth") == []
    refused = {d["destination"]: d for d in final["decisions"] if d["outcome"] == "deny"}
    assert set(refused) == set(PARTNERS)
    assert "tac-sharing" in refused["northfield-school"]["reason"]
