"""A CAF episode moving between authorities' CAF systems (national and local), on both backends."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree
from sqlalchemy import select

from hub.canonical.casework import Involvement
from hub.canonical.events import EpisodeTransferAnswered, EpisodeTransferred
from hub.canonical.people import PersonName, Practitioner
from hub.episodes import CLOSED, episode
from hub.flows.episode_transfer import COMPLETED, REJECTED, EpisodeTransfer
from hub.registry import register
from hub.store.tables import AuditEntry, InboxMessage
from simulators.caf_system import CafSystemSimulator, written
from simulators.local_caf_export import episode_event
from simulators.server import ServerThread
from tests.integration.helpers import eventually, submit

NATIONAL, LOCAL = "ecaf-national", "caf-local"  # registered for authorities 990 and 212
AUTHORITY = {NATIONAL: "990", LOCAL: "212"}
PROFILE = {NATIONAL: "standard", LOCAL: "local"}
REQUEST_ROOT = {NATIONAL: "episodeTransfer", LOCAL: "episodeRecord"}
CLOSE_ROOT = {NATIONAL: "episodeClosed", LOCAL: "closeEpisode"}
ANSWER_ROOT = {NATIONAL: "episodeTransferAnswer", LOCAL: "transferReply"}
NEW_LEAD = Practitioner(practitioner_id="HV-212-7", name=PersonName(given="Asha", family="Patel"),
                        role="Health visitor", agency="Northfield Health")


class Authorities:
    def __init__(self, running_hub) -> None:  # type: ignore[no-untyped-def]
        self.running_hub = running_hub
        self.simulators = {NATIONAL: CafSystemSimulator(), LOCAL: CafSystemSimulator()}
        self.servers = {name: ServerThread(sim.app).start() for name, sim in self.simulators.items()}
        self.tokens: dict[str, str] = {}
        with running_hub.database.transaction() as session:
            for name, sim_server in self.servers.items():
                self.tokens[name] = register(session, name, AUTHORITY[name], "caf_system", sim_server.url,
                                             profile=PROFILE[name]).token

    def send(self, system: str, event: EpisodeTransferred | EpisodeTransferAnswered) -> str:
        reply = submit(self.running_hub.url, self.tokens[system], written(PROFILE[system], event), system)
        assert reply.status_code == 202, reply.text
        return reply.json()["tracking_id"]

    def received(self, system: str, root: str) -> list[etree._Element]:
        return [d for d in self.simulators[system].documents() if etree.QName(d).localname == root]

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def authorities(running_hub):  # type: ignore[no-untyped-def]
    rig = Authorities(running_hub)
    try:
        yield rig
    finally:
        rig.stop()


def request(sender: str, receiver: str, n: int = 1, consented: bool = True) -> EpisodeTransferred:
    event = episode_event(n, consented=consented, authority=AUTHORITY[sender])
    return event.model_copy(update={"to_authority": AUTHORITY[receiver]})


def answer(event: EpisodeTransferred, accepted: bool, reason: str | None = None) -> EpisodeTransferAnswered:
    return EpisodeTransferAnswered(
        child=event.child, episode_id=event.episode.episode_id, accepted=accepted, reason=reason,
        lead_professional=NEW_LEAD if accepted else None, answered_on=date(2026, 3, 2),
        involvements=[Involvement(service="Northfield Health", practitioner=NEW_LEAD, start=date(2026, 3, 2))]
        if accepted else [],
    )


def local_name(element: etree._Element, name: str) -> str | None:
    found = [e for e in element.iter() if isinstance(e.tag, str) and etree.QName(e).localname == name]
    return found[0].text if found else None


@pytest.mark.parametrize(("sender", "receiver"), [(NATIONAL, LOCAL), (LOCAL, NATIONAL)],
                         ids=["national-to-local", "local-to-national"])
def test_an_episode_moves_and_the_sender_closes_its_copy(running_hub, authorities, sender, receiver) -> None:
    event = request(sender, receiver)
    authorities.send(sender, event)

    delivered = eventually(lambda: authorities.received(receiver, REQUEST_ROOT[receiver]),
                           what="the episode delivered to the receiving CAF system")[0]
    episode_id = local_name(delivered, "episodeRef") if receiver == LOCAL \
        else delivered.find("{urn:childrens-hub:caf:1}episode").get("id")
    assert episode_id == event.episode.episode_id
    # mapped between the two profiles: the census gender code one side, the local sex code the other
    sex = local_name(delivered, "sex" if receiver == LOCAL else "gender")
    assert sex == ("M" if receiver == LOCAL else "1")

    authorities.send(receiver, answer(event, accepted=True))
    closed = eventually(lambda: authorities.received(sender, CLOSE_ROOT[sender]),
                        what="the sender told to close its copy")[0]
    assert local_name(closed, "closedBecause" if sender == LOCAL else "reason") == "moved-out-of-area"

    child_key = event.child.identifiers.caf_child_id
    lead = eventually(lambda: running_hub.directory.lead_professionals().get(child_key),
                      what="the directory showing the receiver's lead professional")
    assert lead["practitioner_id"] == NEW_LEAD.practitioner_id
    eventually(lambda: any(etree.QName(u).localname == "involvementUpdate"
                           for u in running_hub.directory.updates()), what="the receiver's involvement")
    with running_hub.database.transaction() as session:
        transfer = session.get(EpisodeTransfer, (receiver, event.episode.episode_id))
        assert transfer is not None and transfer.status == COMPLETED
        ledger = episode(session, sender, event.episode.episode_id)
        assert ledger is not None and ledger.status == CLOSED
        permits = session.execute(select(AuditEntry).where(AuditEntry.action == "decision.permit")).scalars()
        transfer_permit = [a.detail for a in permits if a.detail.get("destination") == receiver
                           and a.detail.get("rule", "").startswith("episode-transferred")]
        assert transfer_permit and transfer_permit[0]["legal_basis"]


def test_a_rejected_transfer_leaves_the_senders_episode_open(running_hub, authorities) -> None:
    event = request(NATIONAL, LOCAL, n=2)
    authorities.send(NATIONAL, event)
    eventually(lambda: authorities.received(LOCAL, REQUEST_ROOT[LOCAL]), what="the episode delivered")

    authorities.send(LOCAL, answer(event, accepted=False, reason="the family has not moved into the area"))
    told = eventually(lambda: authorities.received(NATIONAL, ANSWER_ROOT[NATIONAL]),
                      what="the sender told the transfer was refused")[0]
    assert local_name(told, "accepted") == "false"
    assert local_name(told, "reason") == "the family has not moved into the area"
    assert authorities.received(NATIONAL, CLOSE_ROOT[NATIONAL]) == []
    with running_hub.database.transaction() as session:
        transfer = session.get(EpisodeTransfer, (LOCAL, event.episode.episode_id))
        assert transfer is not None and transfer.status == REJECTED
        assert transfer.reason == "the family has not moved into the area"
        assert episode(session, NATIONAL, event.episode.episode_id) is None  # never closed
    assert running_hub.directory.lead_professionals() == {}


def test_a_transfer_without_consent_is_held_and_not_sent(running_hub, authorities) -> None:
    event = request(LOCAL, NATIONAL, n=3, consented=False)
    tracking_id = authorities.send(LOCAL, event)

    def held() -> str | None:
        with running_hub.database.transaction() as session:
            row = session.get(InboxMessage, tracking_id)
            return row.hold_reason if row is not None and row.status == "held" else None

    reason = eventually(held, what="the transfer request held")
    assert "waits for the family's consent" in reason and NATIONAL in reason
    assert authorities.received(NATIONAL, REQUEST_ROOT[NATIONAL]) == []
