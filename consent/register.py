"""The consent register: consents and legal-gateway decisions for each child, and their withdrawal.

Owns storing, validating and reading them back; it does not decide any disclosure (that is
``consent.policy``). Consents come from the CAF system inside episodes (the episode's consent
statement) and through the API from registered systems; gateway decisions come through the API.
Names and free-text notes are sealed with the key ring; the child is found by subject keys
(``consent.subjects``); every change is an audit entry carrying those keys and no names.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from consent.subjects import SubjectKeys
from consent.vocabulary import (
    CHILD_ONLY_PURPOSES,
    DEFAULT_CATEGORIES,
    ConsentMethod,
    ConsentPurpose,
    Gateway,
    GivenBy,
    ScopeEntry,
    ScopeType,
    parse_scope,
)
from hub.audit import record
from hub.canonical import DataCategory, Envelope, new_id, utcnow
from hub.canonical.casework import CafEpisode, ConsentStatement
from hub.canonical.people import Child
from hub.crypto import KeyRing, Sealed
from hub.sealing import open_json, seal_json
from hub.store.tables import ConsentRecord, LegalGatewayRecord, RegisterSubject

CLOCK_SKEW = timedelta(minutes=5)
CHILD_WORDS = frozenset({"child", "young person", "young-person", "self"})


class RegisterError(ValueError):
    """A consent, withdrawal or gateway decision that cannot be recorded as asked."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class AlreadyWithdrawn(RegisterError):
    """The consent was withdrawn before: a withdrawal is recorded once."""


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; the hub writes only UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# --- what the policy reads ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    consent_id: str
    purpose: ConsentPurpose
    given_by: GivenBy
    competent: bool | None
    scope: tuple[ScopeEntry, ...]
    categories: frozenset[DataCategory]
    given_at: datetime
    expires_at: datetime | None = None
    withdrawn_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GatewayGrant:
    gateway_id: str
    gateway: Gateway
    purposes: frozenset[ConsentPurpose]
    scope: tuple[ScopeEntry, ...]
    categories: frozenset[DataCategory] | None
    decided_by: str
    decided_by_role: str
    decided_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RegisterState:
    """Everything on the register about one child, as the sharing policy needs it."""

    consents: tuple[ConsentGrant, ...] = ()
    gateways: tuple[GatewayGrant, ...] = ()


EMPTY = RegisterState()


CONSENT_COLUMNS = (
    ConsentRecord.consent_id, ConsentRecord.purpose, ConsentRecord.given_by, ConsentRecord.competent,
    ConsentRecord.scope, ConsentRecord.categories, ConsentRecord.given_at, ConsentRecord.expires_at,
    ConsentRecord.withdrawn_at,
)
GATEWAY_COLUMNS = (
    LegalGatewayRecord.gateway_id, LegalGatewayRecord.gateway, LegalGatewayRecord.purposes,
    LegalGatewayRecord.scope, LegalGatewayRecord.categories, LegalGatewayRecord.decided_by,
    LegalGatewayRecord.decided_by_role, LegalGatewayRecord.decided_at, LegalGatewayRecord.expires_at,
)

_RECORDS_OF = select(RegisterSubject.record_id).where(
    RegisterSubject.subject_key.in_(bindparam("keys", expanding=True))
)
CONSENTS_OF = select(*CONSENT_COLUMNS).where(ConsentRecord.consent_id.in_(_RECORDS_OF))
GATEWAYS_OF = select(*GATEWAY_COLUMNS).where(LegalGatewayRecord.gateway_id.in_(_RECORDS_OF))
# the same for several children at once, each row with the subject key it was found by
_KEYS = bindparam("keys", expanding=True)
CONSENTS_BY_KEY = (
    select(RegisterSubject.subject_key, *CONSENT_COLUMNS)
    .join(ConsentRecord, ConsentRecord.consent_id == RegisterSubject.record_id)
    .where(RegisterSubject.subject_key.in_(_KEYS))
)
GATEWAYS_BY_KEY = (
    select(RegisterSubject.subject_key, *GATEWAY_COLUMNS)
    .join(LegalGatewayRecord, LegalGatewayRecord.gateway_id == RegisterSubject.record_id)
    .where(RegisterSubject.subject_key.in_(_KEYS))
)


def grant_of(row: Any) -> ConsentGrant:
    return ConsentGrant(
        consent_id=row.consent_id, purpose=ConsentPurpose(row.purpose), given_by=GivenBy(row.given_by),
        competent=row.competent, scope=parse_scope(row.scope),
        categories=frozenset(DataCategory(c) for c in row.categories),
        given_at=aware(row.given_at), expires_at=aware(row.expires_at),
        withdrawn_at=aware(row.withdrawn_at),
    )


def gateway_grant_of(row: Any) -> GatewayGrant:
    return GatewayGrant(
        gateway_id=row.gateway_id, gateway=Gateway(row.gateway),
        purposes=frozenset(ConsentPurpose(p) for p in row.purposes), scope=parse_scope(row.scope),
        categories=None if row.categories is None else frozenset(DataCategory(c) for c in row.categories),
        decided_by=row.decided_by, decided_by_role=row.decided_by_role,
        decided_at=aware(row.decided_at), expires_at=aware(row.expires_at),
    )


# --- what callers ask to record -------------------------------------------------------------


@dataclass(frozen=True)
class ConsentRequest:
    """A consent as given: by whom (with the competence judgement), for what, to whom, until when."""

    subjects: tuple[str, ...]
    purpose: ConsentPurpose
    given_by: GivenBy
    scope: tuple[ScopeEntry, ...]
    method: ConsentMethod
    given_at: datetime
    categories: frozenset[DataCategory] | None = None
    expires_at: datetime | None = None
    competent: bool | None = None
    parental_responsibility: bool | None = None
    given_by_name: str | None = None
    relationship: str | None = None
    competence_assessed_by: str | None = None
    competence_note: str | None = None


@dataclass(frozen=True)
class GatewayRequest:
    subjects: tuple[str, ...]
    gateway: Gateway
    purposes: frozenset[ConsentPurpose]
    scope: tuple[ScopeEntry, ...]
    decided_by: str
    decided_by_role: str
    reason: str
    decided_at: datetime
    categories: frozenset[DataCategory] | None = None
    expires_at: datetime | None = None


@dataclass
class Ingested:
    """What the register made of the consent statement in a CAF episode."""

    recorded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StatementConsent:
    """A consent a CAF episode's statement gives: its purpose, the source it is registered
    under (``statement_source``), and the request that records it."""

    purpose: ConsentPurpose
    source: str
    request: ConsentRequest


def consent_values(keyring: KeyRing, request: ConsentRequest, actor: str, source: str | None,
                   now: datetime | None = None) -> dict[str, Any]:
    """A validated consent's row, as the register keeps it: the names and notes sealed."""
    now = now or utcnow()
    validate_consent(request, now)
    consent_id = new_id()
    categories = request.categories or DEFAULT_CATEGORIES[request.purpose]
    sealed = seal_json(keyring, {
        "given_by_name": request.given_by_name, "relationship": request.relationship,
        "competence_assessed_by": request.competence_assessed_by,
        "competence_note": request.competence_note,
    }, f"consent:{consent_id}")
    return dict(
        consent_id=consent_id, purpose=request.purpose.value, given_by=request.given_by.value,
        competent=request.competent if request.given_by is GivenBy.CHILD else None,
        scope=[str(entry) for entry in request.scope],
        categories=sorted(category.value for category in categories), method=request.method.value,
        given_at=request.given_at, expires_at=request.expires_at, recorded_at=now,
        recorded_by=actor, source=source, key_id=sealed.key_id, details_sealed=sealed.blob,
    )


def record_recorded(session: Session, request: ConsentRequest, values: dict[str, Any], actor: str,
                    message_id: str | None) -> None:
    """The audit entry of a consent recorded with ``values`` (``consent_values``)."""
    record(
        session, "consent.recorded", actor, message_id, subjects=request.subjects,
        consent_id=values["consent_id"], purpose=values["purpose"], given_by=values["given_by"],
        scope=values["scope"], categories=values["categories"], method=values["method"],
        given_at=request.given_at, expires_at=request.expires_at,
    )


def validate_consent(request: ConsentRequest, now: datetime) -> None:
    if not request.subjects:
        raise RegisterError("the child needs at least one strong identifier", "child")
    if not request.scope:
        raise RegisterError("a consent names to whom it allows sharing (its scope)", "scope")
    if request.given_by is GivenBy.CHILD:
        if request.competent is not True:
            raise RegisterError(
                "a child's own consent needs the judgement that they have sufficient understanding "
                "(Gillick competence); otherwise a person with parental responsibility consents",
                "given_by.competence",
            )
    elif request.parental_responsibility is not True:
        raise RegisterError(
            "only a person with parental responsibility may consent for a child",
            "given_by.parental_responsibility",
        )
    if request.purpose in CHILD_ONLY_PURPOSES and request.given_by is not GivenBy.CHILD:
        raise RegisterError(f"{request.purpose.value} needs the young person's own consent", "given_by")
    if request.categories is not None and not request.categories:
        raise RegisterError("a consent that lists data categories lists at least one", "categories")
    if aware(request.given_at) > now + CLOCK_SKEW:
        raise RegisterError("consent cannot be given in the future", "given_at")
    if request.expires_at is not None and aware(request.expires_at) <= aware(request.given_at):
        raise RegisterError("a consent expires after it was given", "expires_at")


def _validate_gateway(request: GatewayRequest, now: datetime) -> None:
    if not request.subjects:
        raise RegisterError("the child needs at least one strong identifier", "child")
    if not request.purposes:
        raise RegisterError("a gateway decision names the sharing purposes it authorises", "purposes")
    if not request.scope:
        raise RegisterError("a gateway decision names to whom it allows sharing (its scope)", "scope")
    if not request.decided_by.strip() or not request.decided_by_role.strip():
        raise RegisterError("a gateway decision names its decision maker and their role", "decided_by")
    if not request.reason.strip():
        raise RegisterError("a gateway decision records its reason", "reason")
    if aware(request.decided_at) > now + CLOCK_SKEW:
        raise RegisterError("a gateway decision cannot be made in the future", "decided_at")
    if request.expires_at is not None and aware(request.expires_at) <= aware(request.decided_at):
        raise RegisterError("a gateway decision expires after it was made", "expires_at")
    if (ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY in request.purposes
            and request.gateway is not Gateway.S47_SIGNIFICANT_HARM):
        raise RegisterError(
            "a sensitive service goes on the directory without the child's consent only where "
            "significant harm is suspected (s47)", "gateway",
        )


class ConsentRegister:
    def __init__(self, keyring: KeyRing, subjects: SubjectKeys):
        self.keyring = keyring
        self.subjects = subjects

    # --- consents ---------------------------------------------------------------------------

    def record_consent(
        self, session: Session, request: ConsentRequest, actor: str, source: str | None = None,
        message_id: str | None = None,
    ) -> ConsentRecord:
        values = consent_values(self.keyring, request, actor, source)
        row = ConsentRecord(**values)
        session.add(row)
        self._index(session, row.consent_id, "consent", request.subjects)
        record_recorded(session, request, values, actor, message_id)
        return row

    def withdraw(
        self, session: Session, consent_id: str, withdrawn_by: GivenBy, reason: str, actor: str,
        name: str | None = None, scope: Iterable[ScopeEntry] | None = None,
        at: datetime | None = None,
    ) -> tuple[ConsentRecord, ConsentRecord | None]:
        """Withdraw a consent, or only some of its scope: then a successor keeps the rest.

        Returns the withdrawn record and the successor (if part of the scope remains).
        """
        now = utcnow()
        row = session.get(ConsentRecord, consent_id, with_for_update=True)
        if row is None:
            raise RegisterError(f"no consent {consent_id}", "consent_id")
        if row.withdrawn_at is not None:
            raise AlreadyWithdrawn(f"consent {consent_id} was already withdrawn", "consent_id")
        at = aware(at) or now
        if at > now + CLOCK_SKEW:
            raise RegisterError("a withdrawal cannot be dated in the future", "withdrawn_at")
        at = max(at, aware(row.given_at))
        current = parse_scope(row.scope)
        withdrawn_scope = tuple(scope) if scope is not None else current
        unknown = [str(entry) for entry in withdrawn_scope if entry not in current]
        if unknown:
            raise RegisterError(f"consent {consent_id} does not cover {', '.join(unknown)}", "scope")
        subjects = self.subjects_of(session, consent_id)
        sealed = seal_json(self.keyring, {"withdrawn_by_name": name, "reason": reason},
                           f"consent-withdrawal:{consent_id}")
        row.withdrawn_at, row.withdrawn_by, row.withdrawal_recorded_by = at, withdrawn_by.value, actor
        row.withdrawal_sealed = sealed.blob
        remaining = tuple(entry for entry in current if entry not in withdrawn_scope)
        successor = self._successor(session, row, remaining, subjects, actor, now) if remaining else None
        record(
            session, "consent.withdrawn", actor, None, subjects=subjects, consent_id=consent_id,
            purpose=row.purpose, withdrawn_by=withdrawn_by.value, withdrawn_at=at,
            scope_withdrawn=[str(entry) for entry in withdrawn_scope],
            successor=successor.consent_id if successor else None,
        )
        return row, successor

    def _successor(
        self, session: Session, row: ConsentRecord, remaining: tuple[ScopeEntry, ...],
        subjects: tuple[str, ...], actor: str, now: datetime,
    ) -> ConsentRecord:
        successor_id = new_id()
        details = self.details(row)
        sealed = seal_json(self.keyring, details, f"consent:{successor_id}")
        successor = ConsentRecord(
            consent_id=successor_id, purpose=row.purpose, given_by=row.given_by,
            competent=row.competent, scope=[str(entry) for entry in remaining],
            categories=list(row.categories), method=row.method, given_at=row.given_at,
            expires_at=row.expires_at, recorded_at=now, recorded_by=actor, source=None,
            key_id=sealed.key_id, details_sealed=sealed.blob,
        )
        session.add(successor)
        self._index(session, successor_id, "consent", subjects)
        record(
            session, "consent.recorded", actor, None, subjects=subjects, consent_id=successor_id,
            purpose=row.purpose, given_by=row.given_by, scope=successor.scope,
            categories=successor.categories, method=row.method, given_at=aware(row.given_at),
            expires_at=aware(row.expires_at), replaces=row.consent_id,
        )
        return successor

    def details(self, row: ConsentRecord) -> dict[str, Any]:
        return open_json(self.keyring, row.key_id, row.details_sealed, f"consent:{row.consent_id}")

    def withdrawal(self, row: ConsentRecord) -> dict[str, Any] | None:
        if row.withdrawal_sealed is None:
            return None
        return open_json(self.keyring, row.key_id, row.withdrawal_sealed,
                         f"consent-withdrawal:{row.consent_id}")

    # --- consent statements in CAF episodes -------------------------------------------------

    def observe(self, session: Session, envelope: Envelope) -> Ingested:
        """Register the consent statement carried in a CAF episode, once per statement.

        A statement is registered only where it says who gave it in a way the register can
        stand behind: the child with a recorded competence judgement, or a carer of the child
        with parental responsibility. Anything else is skipped and the skip audited, so a
        statement the hub cannot rely on never becomes a basis for sharing.
        """
        payload = envelope.payload
        episode: CafEpisode | None = getattr(payload, "episode", None)
        child: Child | None = getattr(payload, "child", None)
        result = Ingested()
        if not isinstance(episode, CafEpisode) or episode.consent is None or child is None:
            return result
        subjects = self.subjects.keys_for(child.identifiers)
        consents = list(self.statement_consents(envelope, episode, child, subjects))
        sources = [item.source for item in consents if isinstance(item, StatementConsent)]
        registered = dict(session.execute(
            select(ConsentRecord.source, ConsentRecord.consent_id)
            .where(ConsentRecord.source.in_(sources))
        ).all()) if sources else {}
        for item in consents:
            if isinstance(item, str):
                result.skipped.append(item)
                continue
            source = item.source
            known = registered.get(source)
            if known is not None:
                # the same statement, from a record of the child naming other identifiers:
                # the consent is the child's, so it answers to those identifiers too
                new = set(subjects) - set(self.subjects_of(session, known))
                self._index(session, known, "consent", sorted(new))
                continue
            try:
                row = self.record_consent(session, item.request, envelope.source_system, source,
                                          envelope.message_id)
            except RegisterError as error:
                result.skipped.append(f"{item.purpose.value}: {error}")
                continue
            registered[source] = row.consent_id
            result.recorded.append(row.consent_id)
        if result.skipped:
            record(session, "consent.not-registered", envelope.source_system, envelope.message_id,
                   subjects=subjects, episode_id=episode.episode_id, reasons=result.skipped)
        return result

    def statement_consents(
        self, envelope: Envelope, episode: CafEpisode, child: Child, subjects: list[str],
    ) -> Iterator[StatementConsent | str]:
        """The consents an episode's statement gives, one per purpose, each with the source it
        is registered under; in their place, in order, the reason a purpose (or the whole
        statement) cannot be registered."""
        statement = episode.consent
        assert statement is not None
        giver = self._giver(statement, child)
        if isinstance(giver, str):
            yield giver
            return
        given_at = statement.given_at or envelope.occurred_at
        for purpose_text in statement.purposes:
            try:
                purpose = ConsentPurpose(purpose_text)
            except ValueError:
                yield "a purpose the register does not know"  # free text stays out
                continue
            scope = self._statement_scope(purpose, statement, envelope.source_system)
            if not scope:
                yield f"{purpose.value} names no agency"
                continue
            yield StatementConsent(purpose, statement_source(
                envelope.source_system, episode.episode_id, purpose, statement, given_at,
            ), ConsentRequest(
                subjects=subjects, purpose=purpose, given_by=giver[0], scope=scope,
                method=ConsentMethod.CAF_CONSENT_STATEMENT, given_at=given_at,
                competent=True if giver[0] is GivenBy.CHILD else None,
                parental_responsibility=giver[0] is GivenBy.PARENT, given_by_name=giver[1],
                relationship=None if giver[0] is GivenBy.CHILD else statement.given_by,
                competence_note=statement.competence_judgement,
            ))

    @staticmethod
    def _giver(statement: ConsentStatement, child: Child) -> tuple[GivenBy, str | None] | str:
        said = statement.given_by.strip().casefold()
        if said in CHILD_WORDS:
            if not (statement.competence_judgement or "").strip():
                return "the child's consent carries no competence judgement"
            return GivenBy.CHILD, f"{child.name.given} {child.name.family}"
        for carer in child.carers:
            if (carer.relationship or "").strip().casefold() == said and carer.parental_responsibility:
                return GivenBy.PARENT, f"{carer.name.given} {carer.name.family}"
        return "the consent was not given by the child or a carer recorded with parental responsibility"

    @staticmethod
    def _statement_scope(
        purpose: ConsentPurpose, statement: ConsentStatement, caf_system: str,
    ) -> tuple[ScopeEntry, ...]:
        """To whom a CAF consent statement allows sharing: the agencies it names, and for the CAF
        itself the CAF systems; a referral consent covers children's social care and telling the
        CAF system the episode lives on what became of the referral."""
        agencies = tuple(ScopeEntry(ScopeType.AGENCY, a.strip()) for a in statement.agencies if a.strip())
        if purpose is ConsentPurpose.CAF_ASSESSMENT:
            return (ScopeEntry(ScopeType.KIND, "caf_system"), *agencies)
        if purpose is ConsentPurpose.REFERRAL_TO_SOCIAL_CARE:
            return (ScopeEntry(ScopeType.KIND, "case_system"), ScopeEntry(ScopeType.AGENCY, caf_system),
                    *agencies)
        return agencies

    # --- legal gateways ---------------------------------------------------------------------

    def record_gateway(self, session: Session, request: GatewayRequest, actor: str) -> LegalGatewayRecord:
        now = utcnow()
        _validate_gateway(request, now)
        gateway_id = new_id()
        sealed = self.keyring.seal(request.reason.encode(), f"gateway:{gateway_id}")
        digest = hmac.new(self.subjects.secret, request.reason.encode(), hashlib.sha256).hexdigest()
        row = LegalGatewayRecord(
            gateway_id=gateway_id, gateway=request.gateway.value,
            purposes=sorted(p.value for p in request.purposes),
            scope=[str(entry) for entry in request.scope],
            categories=None if request.categories is None else sorted(c.value for c in request.categories),
            decided_by=request.decided_by, decided_by_role=request.decided_by_role,
            decided_at=request.decided_at, expires_at=request.expires_at, recorded_at=now,
            recorded_by=actor, reason_digest=digest, key_id=sealed.key_id, reason_sealed=sealed.blob,
        )
        session.add(row)
        self._index(session, gateway_id, "gateway", request.subjects)
        record(
            session, "gateway.recorded", actor, None, subjects=request.subjects, gateway_id=gateway_id,
            gateway=row.gateway, purposes=row.purposes, scope=row.scope, categories=row.categories,
            decided_by=row.decided_by, decided_by_role=row.decided_by_role,
            decided_at=request.decided_at, expires_at=request.expires_at, reason_digest=digest,
        )
        return row

    def reason(self, row: LegalGatewayRecord) -> str:
        return self.keyring.open(Sealed(row.key_id, row.reason_sealed), f"gateway:{row.gateway_id}").decode()

    # --- reading ----------------------------------------------------------------------------

    @staticmethod
    def _index(session: Session, record_id: str, kind: str, subjects: Iterable[str]) -> None:
        for subject in dict.fromkeys(subjects):
            session.add(RegisterSubject(record_id=record_id, subject_key=subject, record_kind=kind))

    @staticmethod
    def subjects_of(session: Session, record_id: str) -> tuple[str, ...]:
        return tuple(session.execute(
            select(RegisterSubject.subject_key).where(RegisterSubject.record_id == record_id)
            .order_by(RegisterSubject.subject_key)
        ).scalars())

    @staticmethod
    def consents_for(session: Session, subjects: Iterable[str]) -> list[ConsentRecord]:
        keys = list(subjects)
        if not keys:
            return []
        ids = select(RegisterSubject.record_id).where(RegisterSubject.subject_key.in_(keys))
        return list(session.execute(
            select(ConsentRecord).where(ConsentRecord.consent_id.in_(ids)).order_by(ConsentRecord.given_at)
        ).scalars())

    @staticmethod
    def gateways_for(session: Session, subjects: Iterable[str] | None = None) -> list[LegalGatewayRecord]:
        query = select(LegalGatewayRecord).order_by(LegalGatewayRecord.decided_at)
        if subjects is not None:
            keys = list(subjects)
            if not keys:
                return []
            ids = select(RegisterSubject.record_id).where(RegisterSubject.subject_key.in_(keys))
            query = query.where(LegalGatewayRecord.gateway_id.in_(ids))
        return list(session.execute(query).scalars())

    @staticmethod
    def state_for(session: Session, subjects: Iterable[str]) -> RegisterState:
        """The child's consents and gateway decisions as the policy reads them: only the columns
        it needs, nothing sealed, one indexed look-up per table (this runs for every message).

        Read once per transaction and child: a message's decisions (one per destination) share
        it, until the transaction itself writes to the register (``_register_written``). Read as
        statements on the connection, so the transaction's own register changes not yet written
        are written first."""
        keys = tuple(subjects)
        if not keys:
            return EMPTY
        known: dict[tuple[str, ...], RegisterState] = session.info.setdefault(STATE_CACHE, {})
        if keys in known:
            return known[keys]
        if _register_changes(session):
            session.flush()
            known = session.info.setdefault(STATE_CACHE, {})
        connection = session.connection()
        consents = connection.execute(CONSENTS_OF, {"keys": list(keys)})
        gateways = connection.execute(GATEWAYS_OF, {"keys": list(keys)})
        state = known[keys] = RegisterState(
            consents=tuple(grant_of(row) for row in consents),
            gateways=tuple(gateway_grant_of(row) for row in gateways),
        )
        return state

    @staticmethod
    def read_states(session: Session, children: Iterable[Iterable[str]]) -> None:
        """Read the states of several children (each given by its subject keys) in two
        statements in all, into the transaction's cache, where ``state_for`` then finds them:
        for a batch of deliveries re-checked together. The same states ``state_for`` reads."""
        known: dict[tuple[str, ...], RegisterState] = session.info.setdefault(STATE_CACHE, {})
        wanted = {keys for keys in (tuple(each) for each in children) if keys and keys not in known}
        if not wanted:
            return
        if _register_changes(session):
            session.flush()
            known = session.info.setdefault(STATE_CACHE, {})
        keys = sorted({key for each in wanted for key in each})
        connection = session.connection()
        consents: dict[str, dict[str, Any]] = {}
        gateways: dict[str, dict[str, Any]] = {}
        for row in connection.execute(CONSENTS_BY_KEY, {"keys": keys}):
            consents.setdefault(row.subject_key, {})[row.consent_id] = row
        for row in connection.execute(GATEWAYS_BY_KEY, {"keys": keys}):
            gateways.setdefault(row.subject_key, {})[row.gateway_id] = row
        for each in wanted:
            # a record about the child under several of its identifiers is one record
            its_consents = {cid: row for key in each for cid, row in consents.get(key, {}).items()}
            its_gateways = {gid: row for key in each for gid, row in gateways.get(key, {}).items()}
            known[each] = RegisterState(
                consents=tuple(grant_of(row) for row in its_consents.values()),
                gateways=tuple(gateway_grant_of(row) for row in its_gateways.values()),
            )


STATE_CACHE = "consent.register.states"
REGISTER_ROWS = (ConsentRecord, LegalGatewayRecord, RegisterSubject)


def _register_changes(session: Session) -> bool:
    return any(isinstance(row, REGISTER_ROWS) for row in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "before_flush")
def _register_written(session: Session, _context: Any, _instances: Any) -> None:
    """A transaction that changes the register forgets the states it read, before they change."""
    if STATE_CACHE in session.info and _register_changes(session):
        del session.info[STATE_CACHE]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_over(session: Session) -> None:
    session.info.pop(STATE_CACHE, None)


def statement_source(
    system: str, episode_id: str, purpose: ConsentPurpose, statement: ConsentStatement, given_at: datetime,
) -> str:
    """One key per consent statement, so each episode version repeating it registers it once."""
    parts = [system, episode_id, purpose.value, statement.given_by.strip().casefold(),
             aware(given_at).isoformat(), *sorted(a.strip().casefold() for a in statement.agencies)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
