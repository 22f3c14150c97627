"""``hub demo``: Hannah's story end to end, against simulated systems, on the embedded default.

Chapter one: Hannah's TAC agrees Melanie, her school's learning mentor, as lead professional; the
CAF system tells the hub; the directory shows it. The demo prints each step the hub took and why.

Chapter two, the step-up: the CAF system refers Hannah to children's social care. The hub checks
consent, sends the referral with the CAF as draft evidence to the case system, puts the duty team
on the TAC, marks the episode as social care's responsibility, tells the directory and
acknowledges the referral. The case system then allocates John and decides; John joins the TAC
and the referrer hears the outcome. Each step is printed as a timeline, read back from the hub's
message status and from what the simulated systems received.

Chapter three, the step-down: social care closes the case with needs remaining (RC9). The CAF
system is asked to hand the episode back with Melanie proposed as lead professional, Melanie's
school and Lee's youth service are told, and the directory shows social care's involvement ended
and Melanie as lead professional.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from lxml import etree
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.canonical.casework import ReferralOutcome
from hub.canonical.events import CaseAllocated, CaseClosed, ReferralDecided
from hub.canonical.people import Child, ChildIdentifiers, Gender, PersonName, Practitioner
from hub.registry import register
from hub.sealing import open_json
from hub.settings import Settings
from hub.store.tables import Delivery
from hub.worker import Worker
from mappings.layers import GOLDEN_DIR
from simulators.caf_system import CafSystemSimulator
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.hannah import case_closed, melanie_agreed
from simulators.peer import PeerState, peer_app
from simulators.server import ServerThread

REFERRAL = GOLDEN_DIR / "caf_system/standard/referral-to-social-care/hannah-step-up/wire.xml"
CAF = {"c": "urn:childrens-hub:caf:1"}
ICS = {"a": "urn:supplier-a:ics:2"}
DIRECTORY = {"d": "urn:childrens-hub:directory:1"}
# Hannah and her social worker as the case system records them.
HANNAH = Child(identifiers=ChildIdentifiers(nhs_number="9434765919", la_child_id="7005501"),
               name=PersonName(given="Hannah", family="Example"), date_of_birth=date(2011, 3, 14),
               gender=Gender.FEMALE)
JOHN = Practitioner(practitioner_id="SW-JOHN", name=PersonName(given="John", family="Carter"),
                    role="Social worker", agency="Children's social care", team="Assessment team")
STEP_UP_WAIT = 15.0


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def run_demo(console: Console, data_dir: Path | None) -> int:
    work = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="hub-demo-"))
    settings = Settings(data_dir=work, database_url=None, broker_url=None,
                        delivery_backoff_initial=0.2, relay_interval=0.2,
                        duty_team_phone="01632 960500", duty_team_email="duty@csc.example")
    directory, caf, case = DirectorySimulator(), CafSystemSimulator(), CaseSystemSimulator("supplier-a")
    partners = {system_id: PeerState() for system_id in PARTNERS}
    servers = [ServerThread(peer.app).start() for peer in (directory, caf, case)]
    servers += [ServerThread(peer_app(PARTNERS[i], partners[i])).start() for i in PARTNERS]
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, "caf-national", "National eCAF (simulated)", "caf_system",
                             servers[1].url).token
        case_token = register(session, "lcs", "Children's social care case system (simulated)",
                              "case_system", servers[2].url, profile="supplier-a").token
        register(session, "directory", "Directory (simulated)", "directory", servers[0].url)
        for (system_id, name), server in zip(PARTNERS.items(), servers[3:], strict=True):
            register(session, system_id, name, "partner", server.url)
    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()
    servers.append(api)
    console.print(Panel.fit(
        f"store  {settings.resolved_database_url}\nbroker {settings.resolved_broker_url}\n"
        f"hub API {api.url}   directory {servers[0].url}   CAF system {servers[1].url}   "
        f"case system (lcs) {servers[2].url}",
        title="embedded hub and simulated systems are up",
    ))
    try:
        started = time.monotonic()
        console.rule("Chapter 1: Melanie becomes Hannah's lead professional")
        first = _walk_through(console, api.url, caf_token, directory, hub)
        console.rule("Chapter 2: Hannah steps up into children's social care")
        peers = Peers(caf=caf, case=case, directory=directory, partners=partners)
        story = StepUp(console, api.url, caf_token, case_token, peers, settings)
        tally = story.run()
        console.rule("Chapter 3: social care closes with needs remaining; Hannah steps down to her TAC")
        tally = story.step_down()
        tally.expected += 1
        if first == 0:
            tally.arrived += 1
        else:
            tally.missing.insert(0, "lead-professional-changed to directory")
        return _summary(console, tally, time.monotonic() - started)
    finally:
        worker.stop()
        for server in servers:
            server.stop()
        hub.close()


def _walk_through(
    console: Console, hub_url: str, token: str, directory: DirectorySimulator, hub: Hub,
) -> int:
    body = melanie_agreed()
    console.print("1. The CAF system reports: the TAC agreed Melanie as Hannah's lead professional.")
    reply = CafSystemSimulator.send(hub_url, "caf-national", token, body)
    tracking_id = reply.json()["tracking_id"]
    console.print(f"   hub answered {reply.status_code}, tracking id {tracking_id}")

    again = CafSystemSimulator.send(hub_url, "caf-national", token, body)
    console.print(f"2. The same message sent again: {again.status_code}, tracking id "
                  f"{again.json()['tracking_id']} (duplicate={again.json()['duplicate']})")

    status = wait_for(lambda: _delivered(hub_url, token, tracking_id))
    if status is None:
        console.print("[red]the update did not reach the directory within 30 seconds[/]")
        return 1
    decision = status["decisions"][0]
    table = Table("destination", "decision", "legal basis", "fields shared", "withheld")
    table.add_row(decision["destination"], decision["outcome"], decision["legal_basis"],
                  str(len(decision["fields_shared"])), ", ".join(decision["fields_withheld"]) or "-")
    console.print("3. The sharing decision:")
    console.print(table)
    delivery = status["deliveries"][0]
    console.print(f"4. Delivery to {delivery['destination']}: {delivery['status']} after "
                  f"{delivery['attempts']} attempt(s)")
    received = directory.state.received
    if delivery["status"] != "delivered" or not received:
        console.print("[red]the directory did not receive the update[/]")
        return 1
    console.print(f"5. The directory received {len(received)} update(s); its data feed said:")
    console.print(Syntax(_pretty(received[-1].body), "xml", word_wrap=True))
    provenance = _provenance(hub, tracking_id)
    if provenance:
        console.print(f"6. Where each field came from ({len(provenance)} fields), e.g.:")
        for field in provenance[:4]:
            origin = field["origin"] or {}
            console.print(f"   {field['wire_path']}  <- rule {field['rule_id']} "
                          f"({field['spec_id']} {field['mapping_version']})  <- "
                          f"{origin.get('system')}:{origin.get('wire_path')}")
    return 0


def _summary(console: Console, tally: Tally, seconds: float) -> int:
    if not tally.missing and tally.arrived == tally.expected:
        told = f"; the referrer was told: {tally.told}" if tally.told else ""
        console.print(Text(f"Summary: all {tally.expected} expected deliveries arrived in "
                           f"{seconds:.1f}s{told}", style="bold green"))
        return 0
    console.print(Text(f"Summary: {tally.arrived} of {tally.expected} expected deliveries arrived "
                       f"in {seconds:.1f}s; missing: {', '.join(tally.missing)}", style="bold red"))
    return 1


def _pretty(xml: str) -> str:
    return etree.tostring(etree.fromstring(xml.encode()), pretty_print=True).decode()


def _provenance(hub: Hub, tracking_id: str) -> list[dict]:
    with hub.database.read() as session:
        delivery = session.execute(
            select(Delivery).where(Delivery.message_id == tracking_id)
        ).scalar_one()
        payload = open_json(hub.keyring, delivery.key_id, delivery.payload_sealed,
                            f"delivery:{delivery.delivery_id}")
    return payload["provenance"]


def _delivered(hub_url: str, token: str, tracking_id: str) -> dict | None:
    reply = httpx.get(f"{hub_url}/v1/messages/{tracking_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    status = reply.json()
    deliveries = status.get("deliveries", [])
    if deliveries and all(d["status"] in ("delivered", "dead") for d in deliveries):
        return status
    return None


# Chapter 2: the step-up, as a timeline.

PARTNERS = {"northfield-school": "Northfield School", "northfield-youth": "Northfield Youth Service"}
LABELS = {"caf-national": "CAF system", "lcs": "case system (lcs)", "directory": "directory",
          **PARTNERS}
WHO_WIDTH = max(len(f"hub -> {label}:") for label in LABELS.values())
# What each message must produce: (destination, message type) deliveries.
REFERRAL_DELIVERIES = frozenset({
    ("lcs", "referral-to-social-care"), ("caf-national", "tac-member-added"),
    ("caf-national", "responsibility-transferred"), ("caf-national", "referral-acknowledged"),
    ("directory", "involvement-changed"),
})
ALLOCATION_DELIVERIES = frozenset({("caf-national", "tac-member-added"),
                                   ("directory", "involvement-changed")})
DECISION_DELIVERIES = frozenset({("caf-national", "referral-acknowledged")})
STEP_DOWN_DELIVERIES = frozenset({
    ("caf-national", "step-down-requested"), ("directory", "involvement-changed"),
    ("northfield-school", "case-closure-notice"), ("northfield-youth", "case-closure-notice"),
})
# The document each message type arrives as, where a destination receives several per message.
ROOTS = {"tac-member-added": "tacMemberAdded", "responsibility-transferred": "responsibilityTransferred",
         "referral-acknowledged": "referralAcknowledged", "involvement-changed": "involvementUpdate",
         "referral-to-social-care": "contactReferral", "step-down-requested": "stepDownRequested"}


@dataclass
class Peers:
    caf: CafSystemSimulator
    case: CaseSystemSimulator
    directory: DirectorySimulator
    partners: dict[str, PeerState] = field(default_factory=dict)

    def state(self, system_id: str) -> PeerState | None:
        return {"caf-national": self.caf.state, "lcs": self.case.state,
                "directory": self.directory.state, **self.partners}.get(system_id)


@dataclass(frozen=True)
class Step:
    at: datetime
    who: str
    what: str
    ok: bool = True


@dataclass
class Tally:
    expected: int = 0
    arrived: int = 0
    missing: list[str] = field(default_factory=list)
    told: str | None = None


def in_the_past(body: bytes, today: date) -> bytes:
    """The golden referral is dated January 2027 (up to the 15th); the demo's story happens in the
    latest month whose 15th has passed, so the consent is in force and nothing is dated ahead."""
    year, month = today.year, today.month
    if today.day <= 15:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return body.replace(b"2027-01-", f"{year:04d}-{month:02d}-".encode())


class StepUp:
    """Refer Hannah, let the case system allocate and decide, print what happened as it happened."""

    def __init__(self, console: Console, hub_url: str, caf_token: str, case_token: str,
                 peers: Peers, settings: Settings) -> None:
        self.console, self.hub_url, self.peers, self.settings = console, hub_url, peers, settings
        self.caf_token, self.case_token = caf_token, case_token
        self.tally = Tally()
        self.started = datetime.now(UTC)

    def run(self) -> Tally:
        body = in_the_past(REFERRAL.read_bytes(), date.today())
        child = etree.fromstring(body).findtext("c:child/c:name/c:given", namespaces=CAF)
        self.started = datetime.now(UTC)
        reply = CafSystemSimulator.send(self.hub_url, "caf-national", self.caf_token, body)
        if reply.status_code != 202:
            self._refused("CAF system -> hub", "referral to social care", reply, REFERRAL_DELIVERIES)
            return self.tally
        tracking_id = reply.json()["tracking_id"]
        referral = self._settle(self.caf_token, tracking_id, "the referral", REFERRAL_DELIVERIES)
        if referral is None:
            return self.tally
        self._show([
            Step(_at(referral["received_at"]), "CAF system -> hub",
                 f"referral to social care for {child} (tracking id {tracking_id})"),
            *self._hub_decisions(referral),
            *self._deliveries(referral, REFERRAL_DELIVERIES),
        ])
        contact = self._received("lcs", tracking_id, "referral-to-social-care")
        reference = "" if contact is None else contact.xpath(
            "string(//a:contact/a:externalRef)", namespaces=ICS)
        if not reference:
            self._fail("the case system holds no referral to decide on",
                       ALLOCATION_DELIVERIES | DECISION_DELIVERIES)
            return self.tally

        today = date.today()
        self._from_case_system(
            CaseAllocated(child=HANNAH, case_id="CASE-8841", social_worker=JOHN, allocated_on=today),
            f"{JOHN.name.given} {JOHN.name.family} allocated (case CASE-8841)", ALLOCATION_DELIVERIES)
        outcome = ReferralOutcome.INITIAL_ASSESSMENT
        self._from_case_system(
            ReferralDecided(child=HANNAH, referral_id=reference, outcome=outcome, decided_on=today),
            f"decision: {_words(outcome.value)} (on referral {reference})", DECISION_DELIVERIES)
        return self.tally

    def step_down(self) -> Tally:
        """Social care closes with needs remaining; show what each system now holds."""
        self._from_case_system(case_closed(date.today()),
                               "case closed: RC9, needs remain (closed after assessment, referred to "
                               "early help)", STEP_DOWN_DELIVERIES)
        episodes = self.peers.caf.episodes()
        records, _ = self.peers.directory.records()
        table = Table("system", "what it now shows")
        for episode_id, episode in episodes.items():
            table.add_row("CAF system", f"episode {episode_id}: {episode['status']}; proposed lead "
                          f"professional {episode.get('proposed_lead_professional') or '-'}")
        for record in records.values():
            lead = record.lead_professional or {}
            table.add_row("directory", f"record {record.key}: lead professional "
                          f"{lead.get('given', '-')} {lead.get('family', '')}".rstrip())
            for service, involvement in record.involvements.items():
                ended = f", ended {involvement['end']}" if involvement["end"] else ""
                table.add_row("", f"{service}: from {involvement['start']}{ended}")
        self.console.print(table)
        return self.tally

    def _from_case_system(self, event: CaseAllocated | ReferralDecided | CaseClosed, what: str,
                          expected: frozenset[tuple[str, str]]) -> None:
        reply = self.peers.case.send(self.hub_url, "lcs", self.case_token, event)
        if reply.status_code != 202:
            self._refused("case system -> hub", what, reply, expected)
            return
        status = self._settle(self.case_token, reply.json()["tracking_id"], what, expected)
        if status is not None:
            self._show([Step(_at(status["received_at"]), "case system -> hub", what),
                        *self._hub_decisions(status), *self._deliveries(status, expected)])

    def _settle(self, token: str, tracking_id: str, what: str,
                expected: frozenset[tuple[str, str]]) -> dict | None:
        def settled() -> dict | None:
            status = _status(self.hub_url, token, tracking_id)
            finished = all(d["status"] in ("delivered", "dead") for d in status["deliveries"])
            return status if status["status"] != "accepted" and finished else None

        status = wait_for(settled, timeout=STEP_UP_WAIT, interval=0.05)
        if status is None:
            self._fail(f"{what} did not settle within {STEP_UP_WAIT:.0f} seconds", expected)
        return status

    def _hub_decisions(self, status: dict) -> list[Step]:
        """The hub's own steps: the basis it relied on for the message itself, anything refused,
        and why the message was held."""
        steps = []
        for decision in status["decisions"]:
            at = _at(decision["decided_at"])
            if decision["outcome"] != "permit":
                steps.append(Step(at, "hub", f"nothing shared with {_label(decision['destination'])}: "
                                  f"{decision['reason']}", ok=False))
                continue
            basis = re.search(r"for (\S+) on (\S+) basis$", decision["reason"])
            if basis is None or not decision["reason"].startswith(f"{status['message_type']} to "):
                continue
            head, _, qualifier = (decision["legal_basis"] or basis[2]).partition(" (")
            detail = f"{basis[2]}, {qualifier.rstrip(')')}" if qualifier else basis[2]
            steps.append(Step(at, "hub", f"{head} covers {_words(basis[1])} (basis: {detail})"))
        if status["status"] != "processed":
            at = _at(status["processed_at"] or status["received_at"])
            steps.append(Step(at, "hub", f"message {status['status']}: "
                              f"{status['hold_reason'] or 'no reason given'}", ok=False))
        return steps

    def _deliveries(self, status: dict, expected: frozenset[tuple[str, str]]) -> list[Step]:
        steps, seen = [], set()
        for delivery in status["deliveries"]:
            destination, message_type = delivery["destination"], delivery["message_type"]
            key = (destination, message_type)
            seen.add(key)
            who = f"hub -> {_label(destination)}"
            at = _at(delivery["completed_at"] or status["processed_at"] or status["received_at"])
            document = self._received(destination, status["tracking_id"], message_type)
            if delivery["status"] != "delivered" or document is None:
                steps.append(Step(at, who, f"{_words(message_type)} did not arrive ({delivery['status']}"
                                  f" after {delivery['attempts']} attempt(s))", ok=False))
                if key in expected:
                    self.tally.missing.append(f"{message_type} to {destination}")
                continue
            what = self._describe(document)
            if delivery["attempts"] > 1:
                what += f" (after {delivery['attempts']} attempts)"
            steps.append(Step(at, who, what))
            if key in expected:
                self.tally.arrived += 1
        self.tally.expected += len(expected)
        for destination, message_type in sorted(expected - seen):
            self.tally.missing.append(f"{message_type} to {destination}")
            steps.append(Step(datetime.now(UTC), f"hub -> {_label(destination)}",
                              f"{_words(message_type)} was never sent", ok=False))
        return steps

    def _received(self, destination: str, tracking_id: str, message_type: str) -> etree._Element | None:
        """What the simulated system received for this message, as it received it (a partner's
        JSON as an element carrying its fields as attributes, to describe it the same way)."""
        state = self.peers.state(destination)
        if state is None:
            return None
        with state.lock:
            bodies = [item.body for item in state.received if item.message_id == tracking_id]
        notices = [body for body in bodies if isinstance(body, dict)]
        if len(notices) == 1:
            data = notices[0].get("data", {})
            lead = data.get("proposed_lead_professional") or {}
            name = lead.get("name") or {}
            return etree.Element(notices[0].get("type", "notice"), {
                "closed_on": str(data.get("closed_on")), "next_step": str(data.get("next_step")),
                "lead": f"{name.get('given', '')} {name.get('family', '')}".strip()})
        documents = [etree.fromstring(body.encode()) for body in bodies if isinstance(body, str)]
        if len(documents) == 1:
            return documents[0]
        matching = [d for d in documents if etree.QName(d).localname == ROOTS.get(message_type)]
        return matching[0] if len(matching) == 1 else None

    def _describe(self, document: etree._Element) -> str:
        """What a received document means, in plain words."""
        def find(path: str, namespaces: dict[str, str]) -> str:
            return str(document.xpath(f"string({path})", namespaces=namespaces)).strip()

        root = etree.QName(document).localname
        if root == "contactReferral":
            items = document.xpath("a:contact/a:draftEvidence/a:evidenceItem", namespaces=ICS)
            origin = find("a:contact/a:draftEvidence/@origin", ICS) or "CAF"
            return f"contact/referral with {len(items)} items of draft evidence from the {origin}"
        if root == "tacMemberAdded":
            if find("c:member/c:practitionerId", CAF) == self.settings.duty_team_id:
                return f"{find('c:member/c:team', CAF) or 'the duty team'} added to the TAC"
            name = f"{find('c:member/c:name/c:given', CAF)} {find('c:member/c:name/c:family', CAF)}"
            role = ", ".join(filter(None, (find("c:member/c:role", CAF).lower(),
                                           find("c:member/c:team", CAF))))
            return f"{name} joins the TAC ({role})" if role else f"{name} joins the TAC"
        if root == "case-closure-notice":
            lead = document.get("lead")
            return (f"told social care closed on {document.get('closed_on')} with needs remaining; next: "
                    f"{_words(document.get('next_step') or '')}" + (f", {lead} proposed as lead professional"
                                                                    if lead else ""))
        if root == "stepDownRequested":
            lead = " ".join(filter(None, (find("c:proposedLeadProfessional/c:name/c:given", CAF),
                                          find("c:proposedLeadProfessional/c:name/c:family", CAF))))
            summary = "with" if find("c:socialCareClosure/c:summary", CAF) else "without"
            return (f"episode {find('c:episode/@id', CAF)}: {_words(find('c:action', CAF))} "
                    f"({find('c:socialCareClosure/c:reasonCode', CAF)}), {lead or 'no one'} proposed as "
                    f"lead professional, {summary} the closure summary")
        if root == "responsibilityTransferred":
            return f"episode {find('c:episode/@id', CAF)} marked as social care's responsibility"
        if root == "involvementUpdate" and find("d:involvement/d:end", DIRECTORY):
            return (f"{find('d:involvement/d:service', DIRECTORY)} involvement ended "
                    f"{find('d:involvement/d:end', DIRECTORY)} (its contact stays visible for a year)")
        if root == "involvementUpdate" and find("d:involvement/d:practitioner/d:practitionerId", DIRECTORY) \
                != self.settings.duty_team_id:
            worker = " ".join((find("d:involvement/d:practitioner/d:name/d:given", DIRECTORY),
                               find("d:involvement/d:practitioner/d:name/d:family", DIRECTORY)))
            return f"{find('d:involvement/d:service', DIRECTORY)}: contact now {worker}"
        if root == "involvementUpdate":
            contact = ", ".join(filter(None, (
                find("d:involvement/d:practitioner/d:contact/d:phone", DIRECTORY),
                find("d:involvement/d:practitioner/d:contact/d:email", DIRECTORY))))
            return (f"{find('d:involvement/d:service', DIRECTORY)} involved, team contact "
                    f"{contact or 'not given'}")
        if root == "referralAcknowledged":
            outcome, held = find("c:outcome", CAF), find("c:heldReason", CAF)
            if outcome:
                self.tally.told = _words(outcome)
                return f"the referrer is told: {_words(outcome)}"
            if held:
                return f"the referrer is told the referral is held: {held}"
            return f"referral acknowledged (received), their reference {find('c:referralId', CAF)}"
        return _words(re.sub(r"(?<!^)([A-Z])", r"-\1", root).lower())

    def _refused(self, who: str, what: str, reply: httpx.Response,
                 expected: frozenset[tuple[str, str]]) -> None:
        self._show([Step(datetime.now(UTC), who, f"{what}: refused with {reply.status_code} "
                         f"{reply.text[:300]}", ok=False)])
        self._fail(f"{what} was refused", expected)

    def _fail(self, why: str, expected: frozenset[tuple[str, str]]) -> None:
        self.tally.expected += len(expected)
        self.tally.missing.extend(f"{message_type} to {destination}"
                                  for destination, message_type in sorted(expected))
        self.console.print(Text(f"   {why}", style="red"))

    def _show(self, steps: list[Step]) -> None:
        """One line per step, in the order they happened: time since the referral, who, what."""
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", style="dim", no_wrap=True, min_width=7)
        table.add_column(no_wrap=True, min_width=WHO_WIDTH)
        table.add_column()
        for step in sorted(steps, key=lambda s: s.at):
            offset = (step.at - self.started).total_seconds()
            table.add_row(f"{offset:+.2f}s", Text(f"{step.who}:", "bold" if step.ok else "bold red"),
                          Text(step.what, "" if step.ok else "red"))
        self.console.print(table)


def _at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _label(system_id: str) -> str:
    return LABELS.get(system_id, system_id)


def _words(code: str) -> str:
    return code.replace("-", " ")


def _status(hub_url: str, token: str, tracking_id: str) -> dict:
    reply = httpx.get(f"{hub_url}/v1/messages/{tracking_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    reply.raise_for_status()
    return reply.json()
