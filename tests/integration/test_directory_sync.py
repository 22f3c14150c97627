"""Directory sync end to end, on both backends: in order, shielded, sensitive, one way, resynced.

Lead professional updates sent reordered and repeated (and by two workers at once) leave the
directory at the newest, and the hub never sends an older one after a newer one. A shielded
child's record shows no involvements; an unmatched shielded child waits for a person and opens
no record. A sensitive service shows only its existence, and only with the child's consent.
Nothing from a directory reaches the hub. After an outage, ``resync`` sends exactly what the
directory missed.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from lxml import etree
from sqlalchemy import func, select

from hub.cli_directory import child_ids_for, resync
from hub.directory_state import DirectoryEntry
from hub.registry import register
from hub.store.tables import AuditEntry, ChildRecord, ConnectedSystem, Delivery, IdentityReview, InboxMessage
from hub.worker import Worker
from mappings.layers import GOLDEN_DIR
from simulators.caf_system import ChildSpec, PractitionerSpec, involvement_changed, lead_professional_changed
from simulators.directory import text
from simulators.hannah import EPISODE, HANNAH, MELANIE
from tests.integration.helpers import eventually, status, submit

LEE = PractitionerSpec("P-LEE-02", "Lee", "Walker", "Youth worker", "Northfield Youth Service",
                       "01632 960002", "lee.walker@youth.northfield.example")
RECORDED = GOLDEN_DIR / "caf_system/standard/caf-episode-recorded/hannah-after-tac-meeting/wire.xml"
SEXUAL_HEALTH = "Young people's sexual health service"
AGREED = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
SENSITIVE_CONSENT = {  # Hannah's own, judged competent: the only consent that counts for this
    "child": {"nhs_number": HANNAH.nhs_number}, "purpose": "sensitive-service-on-directory",
    "scope": ["kind:directory"], "method": "verbal",
    "given_by": {"role": "child", "name": "Hannah Example",
                 "competence": {"competent": True, "assessed_by": "P-MEL-01"}},
    "given_at": "2026-11-03T09:00:00+00:00",
}


def lead_at(version: int, message_id: str | None = None, lead: PractitionerSpec = MELANIE) -> bytes:
    """The TAC's agreement at an episode version (the same agreement sent again is a duplicate)."""
    return lead_professional_changed(HANNAH, lead, EPISODE, version, agreed_at=AGREED,
                                     message_id=message_id or f"caf-lead-v{version}")


def finished(running_hub, tracking_id: str) -> dict:  # type: ignore[no-untyped-def]
    """The message once processed (or held) and every delivery finished."""
    return eventually(lambda: (s := status(running_hub.url, running_hub.caf_token, tracking_id))["status"]
                      != "accepted" and all(d["status"] in ("delivered", "dead", "withheld")
                                            for d in s["deliveries"]) and s,
                      what=f"message {tracking_id} to finish")


def send(running_hub, body: bytes) -> dict:  # type: ignore[no-untyped-def]
    reply = submit(running_hub.url, running_hub.caf_token, body)
    assert reply.status_code == 202, reply.text
    return finished(running_hub, reply.json()["tracking_id"])


def hannahs_record(running_hub):  # type: ignore[no-untyped-def]
    records, manual = running_hub.directory.records()
    return records.get(HANNAH.directory_id), manual


def test_reordered_and_repeated_lead_professional_updates_never_overwrite_a_newer_one(running_hub):
    arrivals = [(4, "a"), (2, "b"), (6, "c"), (6, "c"), (6, "d"), (3, "e"), (5, "f")]
    outcomes = [send(running_hub, lead_at(version, f"caf-lead-{mid}")) for version, mid in arrivals]

    sent = [len(o["deliveries"]) for o in outcomes]
    assert sent == [1, 0, 1, 1, 0, 0, 0], "only a newer update goes; a resubmission is the same message"
    versions = [int(u.get("version")) for u in running_hub.directory.updates()]
    assert versions == [4, 6]
    record_, _ = hannahs_record(running_hub)
    assert record_.versions["leadProfessionalUpdate"] == 6
    with running_hub.database.read() as session:
        superseded = session.execute(select(AuditEntry.detail).where(
            AuditEntry.action == "directory.update-superseded")).scalars().all()
    assert sorted(d["version"] for d in superseded) == [2, 3, 5, 6]
    assert any(d["reason"] == "a duplicate of version 6, already recorded" for d in superseded)


def test_two_workers_applying_updates_about_one_child_end_at_the_newest(running_hub):
    second = Worker(running_hub.hub)
    second.start()
    try:
        versions = list(range(1, 21))
        random.Random(6).shuffle(versions)
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda v: submit(running_hub.url, running_hub.caf_token,
                                                     lead_at(v, lead=LEE if v % 2 else MELANIE)), versions))
        tracking = {r.json()["tracking_id"]: v for r, v in zip(replies, versions, strict=True)}
        for tracking_id in tracking:
            finished(running_hub, tracking_id)
    finally:
        second.stop()

    with running_hub.database.read() as session:
        entry = session.get(DirectoryEntry, (session.execute(select(ChildRecord.child_id)).scalar_one(),
                                             "lead-professional"))
        planned = session.execute(select(Delivery.message_id).where(
            Delivery.destination == "directory").order_by(Delivery.created_at)).scalars().all()
    assert entry.version == 20
    planned_versions = [tracking[m] for m in planned]
    assert planned_versions == sorted(set(planned_versions)), "an older update was planned after a newer one"
    assert planned_versions[-1] == 20
    record_, _ = hannahs_record(running_hub)
    assert record_.versions["leadProfessionalUpdate"] == 20
    assert record_.lead_professional["practitioner_id"] == MELANIE.practitioner_id


def test_a_shielded_childs_record_shows_no_involvement_and_an_unmatched_one_opens_no_record(running_hub):
    send(running_hub, involvement_changed(HANNAH, "Northfield Youth Service", 1, LEE, start="2026-10-01"))
    shielded_hannah = ChildSpec(**{**HANNAH.__dict__, "shielded": True})
    known = send(running_hub, lead_professional_changed(shielded_hannah, MELANIE, EPISODE, 3,
                                                        message_id="caf-shielded-1"))
    assert known["status"] == "processed" and known["deliveries"] == []
    [refusal] = [d for d in known["decisions"] if d["destination"] == "directory"]
    assert refusal["outcome"] == "deny" and "shielded" in refusal["reason"]
    # the hub now knows her record is shielded: a later update that does not say so is shielded too
    later = send(running_hub, involvement_changed(HANNAH, "Northfield Youth Service", 2, LEE,
                                                  start="2026-10-01", end="2026-11-01"))
    assert later["deliveries"] == [] and "shielded" in later["decisions"][0]["reason"]

    stranger = ChildSpec(caf_child_id="CAF-C-0913", given="Sam", family="Doe", date_of_birth="2012-02-02",
                         gender="1", nhs_number="9434765870", shielded=True)
    unmatched = send(running_hub, lead_professional_changed(stranger, MELANIE, "EP-9", 1))

    assert unmatched["status"] == "held" and "never a new visible record" in unmatched["hold_reason"]
    with running_hub.database.read() as session:
        [review] = session.execute(select(IdentityReview).where(
            IdentityReview.message_id == unmatched["tracking_id"])).scalars().all()
        children = session.execute(select(func.count()).select_from(ChildRecord)).scalar_one()
    assert review.status == "open" and children == 1
    updates = running_hub.directory.updates()
    assert len(updates) == 1, "only the youth service, before the record was shielded"
    records, manual = running_hub.directory.records()
    assert set(records) == {HANNAH.directory_id} and manual == []


def test_a_sensitive_service_shows_its_existence_only_and_only_with_the_childs_consent(running_hub):
    without = send(running_hub, involvement_changed(HANNAH, SEXUAL_HEALTH, 1, start="2026-11-02",
                                                    sensitive=True))
    assert without["deliveries"] == []
    assert "sensitive service goes on the directory only with the child's own consent" in \
        without["decisions"][0]["reason"]

    consent = httpx.post(f"{running_hub.url}/v1/consents", timeout=10, json=SENSITIVE_CONSENT,
                         headers={"Authorization": f"Bearer {running_hub.caf_token}"})
    assert consent.status_code == 201, consent.text
    with_consent = send(running_hub, involvement_changed(HANNAH, SEXUAL_HEALTH, 2, start="2026-11-02",
                                                         sensitive=True))

    assert [d["status"] for d in with_consent["deliveries"]] == ["delivered"]
    [update] = running_hub.directory.updates()
    assert text(update, "d:involvement/d:sensitive") == "true"
    for hidden in ("d:involvement/d:service", "d:involvement/d:practitioner/d:practitionerId"):
        assert text(update, hidden) is None
    assert "sexual" not in running_hub.directory.state.received[0].body.lower()


def test_a_caf_recorded_shows_the_indicator_and_who_recorded_it_never_what_it_says(running_hub):
    outcome = send(running_hub, RECORDED.read_bytes())

    assert [(d["message_type"], d["status"]) for d in outcome["deliveries"]] == [
        ("caf-indicator-changed", "delivered")]
    [update] = running_hub.directory.updates()
    assert (update.get("version"), text(update, "d:cafEpisodeId")) == ("4", EPISODE)
    assert text(update, "d:contact/d:practitionerId") == MELANIE.practitioner_id
    assert text(update, "d:contact/d:contact/d:phone") == MELANIE.phone
    feed = running_hub.directory.state.received[0].body
    episode = etree.fromstring(RECORDED.read_bytes())
    narrative = [node.text for node in episode.iter("{urn:childrens-hub:caf:1}element",
                                                     "{urn:childrens-hub:caf:1}competenceJudgement")]
    assert len(narrative) >= 10
    assert not [words for words in narrative if words in feed], "CAF content reached the directory"


def test_nothing_from_a_directory_reaches_the_hub_or_a_case_record(running_hub):
    with running_hub.database.transaction() as session:
        endpoint = session.get(ConnectedSystem, "directory").endpoint_url
        token = register(session, "directory-b", "Second directory", "directory", endpoint).token
        assert session.get(ConnectedSystem, "directory-b").allowed_in == []
    feed = RECORDED.read_bytes()

    refused = submit(running_hub.url, token, feed, system="directory-b")
    consent = httpx.post(f"{running_hub.url}/v1/consents", json=SENSITIVE_CONSENT, timeout=10,
                         headers={"Authorization": f"Bearer {token}"})

    assert refused.status_code == 403
    assert "may not send messages to the hub" in refused.json()["detail"]
    assert consent.status_code == 403
    assert consent.json()["errors"][0]["rule"] == "consent.recorder"
    with running_hub.database.read() as session:
        assert session.execute(select(func.count()).select_from(InboxMessage)).scalar_one() == 0


def test_resync_after_a_directory_outage_sends_exactly_what_it_missed(running_hub):
    before = send(running_hub, lead_at(3))
    assert before["deliveries"][0]["status"] == "delivered"
    running_hub.directory.state.failure_status = 503
    running_hub.directory.state.failures_left = 10_000
    lost = [send(running_hub, lead_at(5, lead=LEE)),
            send(running_hub, involvement_changed(HANNAH, "Northfield Youth Service", 1, LEE,
                                                  start="2026-10-01"))]
    assert [o["deliveries"][0]["status"] for o in lost] == ["dead", "dead"]
    running_hub.directory.state.failures_left = 0
    received_before = len(running_hub.directory.state.received)

    first = resync(running_hub.hub, actor="test")
    eventually(lambda: len(running_hub.directory.state.received) == received_before + 2,
               what="the missed updates to arrive")
    again = resync(running_hub.hub, actor="test")

    assert sorted((version, destination) for _, _, version, destination in first.sent) == [
        (1, "directory"), (5, "directory")]
    assert first.refused == [] and first.checked == 2, "version 3 of the lead professional is superseded"
    assert again.sent == [] and again.checked == 2
    record_, _ = hannahs_record(running_hub)
    assert record_.lead_professional["practitioner_id"] == LEE.practitioner_id
    assert "Northfield Youth Service" in record_.involvements
    assert len(running_hub.directory.state.received) == received_before + 2
    with running_hub.database.read() as session:
        audited = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "directory.resync")).scalar_one()
    assert audited == 2


def test_resync_for_one_child_leaves_the_others_alone(running_hub):
    running_hub.directory.state.failures_left = 10_000
    send(running_hub, lead_at(3))
    other = ChildSpec(caf_child_id="CAF-C-0100", given="Ravi", family="Other", date_of_birth="2013-01-01",
                      gender="1", nhs_number="9434765870", directory_id="DIR-0100")
    send(running_hub, lead_professional_changed(other, MELANIE, "EP-0100", 1))
    running_hub.directory.state.failures_left = 0
    [child_id] = child_ids_for(running_hub.hub, [f"nhs-number:{HANNAH.nhs_number}"])
    done = resync(running_hub.hub, [child_id], actor="test")

    assert [(version, child) for child, _, version, _ in done.sent] == [(3, child_id)]
    eventually(lambda: running_hub.directory.updates(), what="Hannah's update")
    updates = running_hub.directory.updates()
    assert [text(u, "d:child/d:directoryId") for u in updates] == [HANNAH.directory_id]
