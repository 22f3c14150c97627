"""The consent register and the sharing decisions for a batch of messages at once.

``ConsentBatch`` owns registering the consent statements of many CAF episodes and deciding the
disclosure of each, for one transaction, with the outcomes ``Sharing.observe`` then
``Sharing.decide`` would give message after message: the register is read once for the whole
batch (the children's consents and gateway decisions, the statements already registered) and
what the batch registers is kept in memory too, so a message's decision sees exactly the
consents registered before it, its own included. The rows (consents and their subjects, decisions
and their contexts) are written with one insert per table by ``write``; each consent and each
decision is audited as one at a time would be, the decision with its legal basis.

A consent is built as ``ConsentRegister.record_consent`` builds it; a change there is a change
here (``tests/integration/test_migration.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from consent.policy import decide
from consent.register import (
    CONSENT_COLUMNS,
    GATEWAY_COLUMNS,
    ConsentGrant,
    ConsentRequest,
    GatewayGrant,
    Ingested,
    RegisterError,
    RegisterState,
    consent_values,
    gateway_grant_of,
    grant_of,
    record_recorded,
    statement_source,
)
from consent.sharing import PLANNING, Sharing, Stored, destination_of
from consent.vocabulary import ConsentPurpose
from hub.audit import record
from hub.canonical import Envelope, new_id, utcnow
from hub.canonical.casework import CafEpisode
from hub.canonical.people import Child
from hub.store.tables import ConsentRecord, Decision, DecisionContext, LegalGatewayRecord, RegisterSubject

CHUNK = 500  # values per IN (...) look-up


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass
class _Register:
    """The register as the batch sees it: read from the store once, then added to in order."""

    consents: dict[str, dict[str, ConsentGrant]] = field(default_factory=dict)  # subject key -> id -> grant
    gateways: dict[str, dict[str, GatewayGrant]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # statement source -> consent id
    subjects_of: dict[str, set[str]] = field(default_factory=dict)  # known consent id -> its subject keys
    grants: dict[str, ConsentGrant] = field(default_factory=dict)  # consent id -> grant, found by source

    def state(self, subjects: tuple[str, ...]) -> RegisterState:
        consents: dict[str, ConsentGrant] = {}
        gateways: dict[str, GatewayGrant] = {}
        for key in subjects:
            consents.update(self.consents.get(key, {}))
            gateways.update(self.gateways.get(key, {}))
        return RegisterState(consents=tuple(consents.values()), gateways=tuple(gateways.values()))

    def index(self, consent_id: str, subjects: Iterable[str], grant: ConsentGrant | None = None) -> None:
        """The consent answers to these subject keys too (a new consent: with its grant)."""
        if grant is not None:
            self.grants[consent_id] = grant
        grant = self.grants.get(consent_id)
        keys = self.subjects_of.setdefault(consent_id, set())
        for key in subjects:
            keys.add(key)
            if grant is not None:
                self.consents.setdefault(key, {})[consent_id] = grant


class ConsentBatch:
    """Consent statements registered and disclosures decided for a batch, in one transaction."""

    def __init__(self, sharing: Sharing, session: Session, envelopes: Sequence[Envelope]):
        self.sharing, self.session = sharing, session
        self.register = sharing.register
        self.consent_rows: list[dict[str, Any]] = []
        self.subject_rows: list[dict[str, Any]] = []
        self.decision_rows: list[dict[str, Any]] = []
        self.context_rows: list[dict[str, Any]] = []
        self._subjects: dict[int, tuple[Envelope, tuple[str, ...]]] = {}
        self._destinations: dict[str, Any] = {}
        self.known = self._read(envelopes)

    def subjects_of(self, envelope: Envelope) -> tuple[str, ...]:
        """``Sharing.subjects_of``, worked out once per envelope of the batch."""
        kept = self._subjects.get(id(envelope))
        if kept is not None and kept[0] is envelope:
            return kept[1]
        subjects = self.sharing.subjects_of(envelope)
        self._subjects[id(envelope)] = (envelope, subjects)
        return subjects

    # --- reading the register once --------------------------------------------------------

    def _read(self, envelopes: Sequence[Envelope]) -> _Register:
        known = _Register()
        keys = sorted({key for envelope in envelopes for key in self.subjects_of(envelope)})
        kinds = ((CONSENT_COLUMNS, ConsentRecord.consent_id, grant_of, known.consents),
                 (GATEWAY_COLUMNS, LegalGatewayRecord.gateway_id, gateway_grant_of, known.gateways))
        for part in chunks(keys):
            for columns, record_id, grant, grants in kinds:
                rows = self.session.execute(
                    select(RegisterSubject.subject_key, record_id.label("record_id"), *columns)
                    .join(RegisterSubject, RegisterSubject.record_id == record_id)
                    .where(RegisterSubject.subject_key.in_(part)))
                for row in rows:
                    grants.setdefault(row.subject_key, {})[row.record_id] = grant(row)
        sources = sorted({source for envelope in envelopes for _, source in self._sources(envelope)})
        for part in chunks(sources):
            known.sources.update((source, consent_id) for source, consent_id in self.session.execute(
                select(ConsentRecord.source, ConsentRecord.consent_id).where(ConsentRecord.source.in_(part))))
        registered = sorted(set(known.sources.values()))
        for part in chunks(registered):
            for record_id, key in self.session.execute(
                    select(RegisterSubject.record_id, RegisterSubject.subject_key)
                    .where(RegisterSubject.record_id.in_(part))):
                known.subjects_of.setdefault(record_id, set()).add(key)
            rows = self.session.execute(select(*CONSENT_COLUMNS).where(ConsentRecord.consent_id.in_(part)))
            for row in rows:
                known.grants[row.consent_id] = grant_of(row)
        return known

    @staticmethod
    def _statement(envelope: Envelope) -> tuple[CafEpisode, Child] | None:
        payload = envelope.payload
        episode = getattr(payload, "episode", None)
        child = getattr(payload, "child", None)
        if not isinstance(episode, CafEpisode) or episode.consent is None or child is None:
            return None
        return episode, child

    def _sources(self, envelope: Envelope) -> list[tuple[ConsentPurpose, str]]:
        found = self._statement(envelope)
        if found is None:
            return []
        episode, _child = found
        statement = episode.consent
        assert statement is not None
        given_at = statement.given_at or envelope.occurred_at
        return [(purpose, statement_source(envelope.source_system, episode.episode_id, purpose, statement,
                                            given_at))
                for purpose in ConsentPurpose if purpose.value in statement.purposes]

    # --- registering, as ``ConsentRegister.observe`` --------------------------------------

    def observe(self, envelope: Envelope) -> Ingested:
        """Register the consent statement carried in a CAF episode, once per statement."""
        result = Ingested()
        found = self._statement(envelope)
        if found is None:
            return result
        episode, child = found
        subjects = self.subjects_of(envelope) if self.register.subjects is self.sharing.subjects \
            else self.register.subjects.keys_for(child.identifiers)
        for item in self.register.statement_consents(envelope, episode, child, subjects):
            if isinstance(item, str):
                result.skipped.append(item)
                continue
            source = item.source
            known = self.known.sources.get(source)
            if known is not None:
                # the same statement, from a record of the child naming other identifiers:
                # the consent is the child's, so it answers to those identifiers too
                new = sorted(set(subjects) - self.known.subjects_of.get(known, set()))
                self._index(known, new)
                self.known.index(known, new)
                continue
            try:
                consent_id = self._record_consent(item.request, envelope.source_system, source,
                                                  envelope.message_id)
            except RegisterError as error:
                result.skipped.append(f"{item.purpose.value}: {error}")
                continue
            self.known.sources[source] = consent_id
            result.recorded.append(consent_id)
        if result.skipped:
            record(self.session, "consent.not-registered", envelope.source_system, envelope.message_id,
                   subjects=subjects, episode_id=episode.episode_id, reasons=result.skipped)
        return result

    def _record_consent(self, request: ConsentRequest, actor: str, source: str, message_id: str) -> str:
        """``ConsentRegister.record_consent``, the row kept for ``write``."""
        row = consent_values(self.register.keyring, request, actor, source)
        row.update(withdrawn_at=None, withdrawn_by=None, withdrawal_recorded_by=None,
                   withdrawal_sealed=None)
        consent_id = row["consent_id"]
        self.consent_rows.append(row)
        self._index(consent_id, request.subjects)
        self.known.index(consent_id, dict.fromkeys(request.subjects), grant_of(SimpleNamespace(**row)))
        record_recorded(self.session, request, row, actor, message_id)
        return consent_id

    def _index(self, record_id: str, subjects: Iterable[str]) -> None:
        for subject in dict.fromkeys(subjects):
            self.subject_rows.append(dict(record_id=record_id, subject_key=subject, record_kind="consent"))

    # --- deciding, as ``Sharing.decide`` ---------------------------------------------------

    def decide(self, message_id: str, system: Any, envelope: Envelope, envelope_json: bytes,
               now: datetime | None = None) -> Stored:
        """Decide one disclosure at planning time on the register as it stands at this message,
        and keep the decision with its context; ``envelope_json`` is the envelope as JSON, sealed
        into the context of a permit."""
        subjects = self.subjects_of(envelope)
        destination = self._destinations.get(system.system_id)
        if destination is None:  # the batch's systems, as registered when it began
            destination = self._destinations[system.system_id] = destination_of(system)
        decision = decide(envelope, destination, self.known.state(subjects), now)
        decision_id = new_id()
        self.decision_rows.append(dict(
            decision_id=decision_id, message_id=message_id, destination=destination.system_id,
            outcome="permit" if decision.permitted else "deny", legal_basis=decision.legal_basis,
            reason=decision.reason, fields_shared=decision.shared, fields_withheld=decision.withheld,
            decided_at=utcnow(),
        ))
        sealed = self.sharing.keyring.seal(envelope_json, f"decision:{decision_id}") \
            if decision.permitted else None
        self.context_rows.append(dict(
            decision_id=decision_id, stage=PLANNING, purpose=decision.purpose or "",
            rule=decision.rule, basis_kind=decision.basis_kind, basis_refs=list(decision.basis_refs),
            categories=list(decision.categories), checks=[c.as_dict() for c in decision.checks],
            recipients=[], key_id=sealed.key_id if sealed else None,
            envelope_sealed=sealed.blob if sealed else None,
        ))
        Sharing._audit(self.session, message_id, destination.system_id, decision_id, decision, subjects,
                       PLANNING, None)
        return Stored(decision, decision_id, subjects)

    # --- writing -------------------------------------------------------------------------

    def write(self) -> None:
        """The batch's consents and decisions into the transaction, one insert per table."""
        for table, rows in ((ConsentRecord, self.consent_rows), (RegisterSubject, self.subject_rows),
                            (Decision, self.decision_rows), (DecisionContext, self.context_rows)):
            if rows:
                self.session.execute(insert(table.__table__), rows)
            rows.clear()

