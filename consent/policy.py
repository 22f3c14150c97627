"""The sharing decision: ``decide(envelope, destination, register state)`` -> permit or deny, and why.

Default deny. An event reaches a destination only where a rule names that message type,
destination kind and purpose, and the rule's basis holds: a statute (the directory, Children
Act 2004 s12), or a valid consent for the rule's consent purpose that covers the destination,
or a recorded legal gateway for it. On top of that:

- the destination's profile limits the data categories (the directory never gets ``case`` or
  ``sensitive``), and a consent's own categories limit them further;
- a shielded child's record reaches the directory as name, gender, date of birth, directory id
  and carers' names only, so any directory message about an involvement is refused;
- a sensitive service reaches the directory only with the child's own consent or a s47
  significant-harm gateway, and then only the existence of the involvement;
- consents count only for their purpose, before they expire and until they are withdrawn;
- a permit that would have to withhold what the message is about is refused, not sent half-empty.

Pure: no store, no clock of its own (``now`` is passed in), so it is cheap, testable and the
same at planning and at delivery time. Every answer carries the checks it made, for
"why did X receive Y?" and "why was Z refused?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from consent.minimise import PathFilter, minimise
from consent.profiles import allowed_categories
from consent.register import EMPTY, ConsentGrant, GatewayGrant, RegisterState
from consent.vocabulary import GATEWAY_LAW, ConsentPurpose, Gateway, GivenBy, ScopeEntry, ScopeType
from hub.canonical import DataCategory, Envelope, Purpose, utcnow

DIRECTORY_BASIS = (
    "Children Act 2004 s12: the directory of children and the practitioners working with them"
)


REFERRER_FEEDBACK_BASIS = (
    "Working Together to Safeguard Children: the referrer is told the referral was received and "
    "what was decided (Children Act 2004 s11)"
)


@dataclass(frozen=True)
class Rule:
    """One lawful route: this message type, to this kind of system, for this purpose, on this basis.

    ``statute`` is a basis that needs no consent; otherwise ``needs`` is the consent purpose a
    consent or a gateway decision must cover. ``subject`` names the top-level fields the message
    is about: if minimisation would withhold any of them, nothing is sent.
    """

    message_type: str
    destination_kind: str
    purpose: Purpose
    subject: tuple[str, ...]
    statute: str | None = None
    needs: ConsentPurpose | None = None
    guarded: tuple[tuple[str, ConsentPurpose], ...] = ()  # (field path, purpose the family agreed to)

    @cached_property
    def statute_basis(self) -> _Basis:
        assert self.statute is not None
        return _Basis("statute", self.statute, (), None, self.statute)

    @cached_property
    def rule_id(self) -> str:
        return f"{self.message_type}->{self.destination_kind}/{self.purpose}"


# DOMAIN (step-down): the closure summary is shared only as far as the family agreed to share
# within the Team Around the Child.
CLOSURE_SUMMARY: tuple[tuple[str, ConsentPurpose], ...] = (
    ("closure.summary", ConsentPurpose.TAC_SHARING), ("summary", ConsentPurpose.TAC_SHARING),
)

RULES: tuple[Rule, ...] = (
    Rule("lead-professional-changed", "directory", Purpose.DIRECTORY_UPDATE, ("lead_professional",),
         statute=DIRECTORY_BASIS),
    Rule("caf-indicator-changed", "directory", Purpose.DIRECTORY_UPDATE, ("contact",),
         statute=DIRECTORY_BASIS),
    Rule("involvement-changed", "directory", Purpose.DIRECTORY_UPDATE, ("involvement",),
         statute=DIRECTORY_BASIS),
    Rule("caf-episode-recorded", "partner", Purpose.TAC_SHARING, ("episode",),
         needs=ConsentPurpose.TAC_SHARING),
    Rule("referral-to-social-care", "case_system", Purpose.REFERRAL_TO_SOCIAL_CARE, ("referral",),
         needs=ConsentPurpose.REFERRAL_TO_SOCIAL_CARE),
    Rule("partner-referral", "case_system", Purpose.REFERRAL_TO_SOCIAL_CARE, ("referral",),
         needs=ConsentPurpose.REFERRAL_TO_SOCIAL_CARE),
    # step-down: the CAF system holds the episode under the consent to the CAF; the closure
    # summary goes with it only where the family agreed to share with the TAC
    Rule("step-down-requested", "caf_system", Purpose.STEP_DOWN, ("action",),
         needs=ConsentPurpose.CAF_ASSESSMENT, guarded=CLOSURE_SUMMARY),
    # the practitioners and agencies who carry on (former lead professional, episode
    # co-ordinator, the TAC's agencies) are told social care closed, on the TAC sharing consent
    Rule("case-closure-notice", "partner", Purpose.STEP_DOWN, ("closed_on",),
         needs=ConsentPurpose.TAC_SHARING, guarded=CLOSURE_SUMMARY),
    Rule("case-closure-notice", "caf_system", Purpose.STEP_DOWN, ("closed_on",),
         needs=ConsentPurpose.TAC_SHARING, guarded=CLOSURE_SUMMARY),
    # a closure with no needs remaining: the referrer is told the case closed ("informed of action")
    Rule("case-closure-notice", "partner", Purpose.REFERRAL_TO_SOCIAL_CARE, ("closed_on",),
         statute=REFERRER_FEEDBACK_BASIS, guarded=CLOSURE_SUMMARY),
    Rule("case-closure-notice", "caf_system", Purpose.REFERRAL_TO_SOCIAL_CARE, ("closed_on",),
         statute=REFERRER_FEEDBACK_BASIS, guarded=CLOSURE_SUMMARY),
    Rule("episode-transferred", "caf_system", Purpose.EPISODE_TRANSFER, ("episode",),
         needs=ConsentPurpose.CAF_ASSESSMENT),
    # the transfer's outcome: the sender closes its copy (moved out of area) on the receiver's
    # acceptance, or is told why the receiver refused it; both under the consent to the CAF
    Rule("episode-transfer-answered", "caf_system", Purpose.EPISODE_TRANSFER, ("accepted",),
         needs=ConsentPurpose.CAF_ASSESSMENT),
    Rule("caf-episode-closed", "caf_system", Purpose.EPISODE_TRANSFER, ("reason",),
         needs=ConsentPurpose.CAF_ASSESSMENT),
    # step-up, on the CAF side: the CAF system holds the episode under the consent to the CAF,
    # and is told what social care's joining changes in it (the flow sends these only once the
    # referral itself is permitted)
    Rule("tac-member-added", "caf_system", Purpose.REFERRAL_TO_SOCIAL_CARE, ("member",),
         needs=ConsentPurpose.CAF_ASSESSMENT),
    Rule("responsibility-transferred", "caf_system", Purpose.REFERRAL_TO_SOCIAL_CARE,
         ("social_care_contact",), needs=ConsentPurpose.CAF_ASSESSMENT),
    Rule("caf-episode-closed", "caf_system", Purpose.REFERRAL_TO_SOCIAL_CARE, ("reason",),
         needs=ConsentPurpose.CAF_ASSESSMENT),
    # the referrer is told the referral arrived, and what was decided ("informed of action")
    Rule("referral-acknowledged", "caf_system", Purpose.REFERRAL_TO_SOCIAL_CARE, ("tracking_id",),
         statute=REFERRER_FEEDBACK_BASIS),
    Rule("referral-acknowledged", "partner", Purpose.REFERRAL_TO_SOCIAL_CARE, ("tracking_id",),
         statute=REFERRER_FEEDBACK_BASIS),
)
RULE_INDEX: dict[tuple[str, str, Purpose], Rule] = {
    (rule.message_type, rule.destination_kind, rule.purpose): rule for rule in RULES
}

# DOMAIN: a shielded record on the directory shows name, gender, date of birth, directory id and
# carers' names; nothing that could say where the child is (address, school, GP, involvements).
SHIELD_FIELDS = frozenset({
    "event_type", "child", "child.identifiers", "child.identifiers.directory_id", "child.name",
    "child.name.given", "child.name.family", "child.gender", "child.date_of_birth", "child.shielded",
    "child.carers", "child.carers.name", "child.carers.name.given", "child.carers.name.family",
})
# DOMAIN: a sensitive service on the directory shows that an involvement exists, no more.
SENSITIVE_DETAIL = frozenset({
    "involvement.service", "involvement.practitioner", "involvement.sensitive_service",
    "involvement.lead_professional",
})


def _shielded(path: str) -> bool:
    return path not in SHIELD_FIELDS


def _existence_only(path: str) -> bool:
    return path in SENSITIVE_DETAIL


def _both(path: str) -> bool:
    return _shielded(path) or _existence_only(path)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A practitioner at the destination the message is for (a TAC member at that agency)."""

    practitioner_id: str
    role: str | None = None


@dataclass(frozen=True)
class Destination:
    system_id: str
    kind: str
    allowed_out: frozenset[str]
    name: str | None = None
    recipients: tuple[Recipient, ...] = ()
    _agencies: frozenset[str] = field(init=False, repr=False, compare=False)
    _practitioners: frozenset[str] = field(init=False, repr=False, compare=False)
    _roles: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        agencies = {self.system_id.casefold()} | ({self.name.casefold()} if self.name else set())
        object.__setattr__(self, "_agencies", frozenset(agencies))
        object.__setattr__(self, "_practitioners", frozenset(r.practitioner_id for r in self.recipients))
        object.__setattr__(self, "_roles", frozenset(
            r.role.casefold() for r in self.recipients if r.role
        ))

    def covered_by(self, scope: tuple[ScopeEntry, ...]) -> bool:
        for entry in scope:
            kind = entry.type
            if kind is ScopeType.AGENCY:
                if entry.value.casefold() in self._agencies:
                    return True
            elif kind is ScopeType.KIND:
                if entry.value == self.kind:
                    return True
            elif kind is ScopeType.PRACTITIONER:
                if entry.value in self._practitioners:
                    return True
            elif entry.value.casefold() in self._roles:
                return True
        return False


@dataclass(frozen=True)
class Check:
    """One step of a decision and what it found: the explanation is the list of these."""

    check: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class SharingDecision:
    permitted: bool
    reason: str
    legal_basis: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    shared: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    purpose: str | None = None
    rule: str | None = None
    basis_kind: str | None = None  # "statute", "consent" or "gateway"
    basis_refs: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()


def deny(reason: str, checks: list[Check] | None = None, purpose: str | None = None,
         rule: str | None = None) -> SharingDecision:
    return SharingDecision(permitted=False, reason=reason, purpose=purpose, rule=rule,
                           checks=tuple(checks or ()))


@dataclass(frozen=True)
class _Basis:
    kind: str
    text: str
    refs: tuple[str, ...]
    categories: frozenset[DataCategory] | None
    detail: str


def _consent_valid(grant: ConsentGrant, now: datetime) -> str | None:
    """Why this consent does not count now, or None if it does."""
    if grant.withdrawn_at is not None and grant.withdrawn_at <= now:
        return f"consent {grant.consent_id} was withdrawn at {grant.withdrawn_at.isoformat()}"
    if grant.expires_at is not None and grant.expires_at <= now:
        return f"consent {grant.consent_id} expired at {grant.expires_at.isoformat()}"
    if grant.given_at > now:
        return f"consent {grant.consent_id} is dated after this decision"
    if grant.given_by is GivenBy.CHILD and grant.competent is not True:
        return f"consent {grant.consent_id} is the child's without a competence judgement"
    return None


def _gateway_valid(grant: GatewayGrant, now: datetime) -> str | None:
    if grant.expires_at is not None and grant.expires_at <= now:
        return f"gateway decision {grant.gateway_id} expired at {grant.expires_at.isoformat()}"
    if grant.decided_at > now:
        return f"gateway decision {grant.gateway_id} is dated after this decision"
    return None


def _consent_basis(grants: list[ConsentGrant]) -> _Basis:
    givers = sorted({
        "the child (judged to have sufficient understanding)" if g.given_by is GivenBy.CHILD
        else "a person with parental responsibility" for g in grants
    })
    categories: frozenset[DataCategory] = frozenset().union(*(g.categories for g in grants))
    return _Basis(
        kind="consent", text=f"consent of {' and '.join(givers)}",
        refs=tuple(g.consent_id for g in grants), categories=categories,
        detail=f"consent {', '.join(g.consent_id for g in grants)} for {grants[0].purpose}",
    )


def _gateway_basis(grant: GatewayGrant) -> _Basis:
    return _Basis(
        kind="gateway", text=GATEWAY_LAW[grant.gateway], refs=(grant.gateway_id,),
        categories=grant.categories,
        detail=(f"gateway decision {grant.gateway_id} ({grant.gateway.value}) by {grant.decided_by} "
                f"({grant.decided_by_role}) at {grant.decided_at.isoformat()}"),
    )


def find_basis(
    state: RegisterState, purpose: ConsentPurpose, destination: Destination, now: datetime,
    child_only: bool = False, gateways: frozenset[Gateway] | None = None,
) -> _Basis | str:
    """A consent (preferred) or a gateway decision covering ``purpose`` to ``destination``; or why not."""
    covering: list[ConsentGrant] = []
    misses: list[str] = []
    others = 0
    for grant in state.consents:
        if grant.purpose is not purpose:
            continue
        if not destination.covered_by(grant.scope):
            others += 1
            continue
        if child_only and grant.given_by is not GivenBy.CHILD:
            misses.append(f"consent {grant.consent_id} is not the child's own")
            continue
        problem = _consent_valid(grant, now)
        if problem:
            misses.append(problem)
        else:
            covering.append(grant)
    if covering:
        return _consent_basis(covering)
    for gateway in state.gateways:
        if purpose not in gateway.purposes or not destination.covered_by(gateway.scope):
            continue
        if gateways is not None and gateway.gateway not in gateways:
            misses.append(f"gateway decision {gateway.gateway_id} ({gateway.gateway.value}) is not enough")
            continue
        problem = _gateway_valid(gateway, now)
        if problem:
            misses.append(problem)
        else:
            return _gateway_basis(gateway)
    if others and not misses:
        misses.append(f"{others} consent(s) for {purpose} do not cover {destination.system_id}")
    if not misses:
        misses.append(f"no consent for {purpose} on record")
    return "; ".join(misses)


def _unagreed(
    guarded: tuple[tuple[str, ConsentPurpose], ...], state: RegisterState, now: datetime,
) -> frozenset[str]:
    """The guarded fields for whose purpose no valid consent is on record."""
    agreed = {grant.purpose for grant in state.consents if _consent_valid(grant, now) is None}
    return frozenset(path for path, purpose in guarded if purpose not in agreed)


@dataclass(frozen=True, slots=True)
class _Also:
    """A path filter that also withholds ``paths``: a value, so minimisation's compiled plans
    (cached per filter) are shared by every decision that withholds the same fields."""

    paths: frozenset[str]
    base: PathFilter | None

    def __call__(self, path: str) -> bool:
        return path in self.paths or (self.base is not None and self.base(path))


def _also(withhold: PathFilter | None, paths: frozenset[str]) -> PathFilter:
    return _Also(paths, withhold)


def _sensitive_service(payload: Any) -> bool:
    """The event is about an involvement with a sensitive service (named, or flagged as one)."""
    involvement = getattr(payload, "involvement", None)
    return bool(getattr(involvement, "sensitive_service", None) or getattr(involvement, "sensitive", False))


def decide(
    envelope: Envelope, destination: Destination, state: RegisterState = EMPTY,
    now: datetime | None = None,
) -> SharingDecision:
    now = now or utcnow()
    message_type, purpose = envelope.message_type, envelope.purpose
    checks: list[Check] = []
    if message_type not in destination.allowed_out:
        reason = f"{destination.system_id} is not registered to receive {message_type}"
        return deny(reason, [Check("registered", False, reason)], purpose)
    checks.append(Check("registered", True, f"{destination.system_id} may receive {message_type}"))
    rule = RULE_INDEX.get((message_type, destination.kind, envelope.purpose))
    if rule is None:
        reason = (f"no legal basis for {message_type} to a {destination.kind} "
                  f"for the purpose {purpose}")
        return deny(reason, [*checks, Check("rule", False, reason)], purpose)
    checks.append(Check("rule", True, rule.rule_id))

    payload = envelope.payload
    child = getattr(payload, "child", None)
    shielded = destination.kind == "directory" and child is not None and child.shielded
    withhold: PathFilter | None = _shielded if shielded else None
    if shielded:
        checks.append(Check("shielding", True, "shielded child: the directory gets name, gender, date of "
                                               "birth, directory id and carers' names only"))
    allowed = allowed_categories(destination.kind)

    if rule.statute is not None:
        basis = rule.statute_basis
        if destination.kind == "directory" and _sensitive_service(payload):
            found = find_basis(state, ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY, destination, now,
                               child_only=True, gateways=frozenset({Gateway.S47_SIGNIFICANT_HARM}))
            if isinstance(found, str):
                reason = ("a sensitive service goes on the directory only with the child's own consent "
                          f"or a s47 significant-harm gateway: {found}")
                return deny(reason, [*checks, Check("sensitive-service", False, reason)],
                            purpose, rule.rule_id)
            checks.append(Check("sensitive-service", True, f"existence only, on {found.detail}"))
            basis = _Basis(found.kind, f"{rule.statute.split(':')[0]}; {found.text}", found.refs, None,
                           found.detail)
            withhold = _both if shielded else _existence_only
    else:
        assert rule.needs is not None
        found = find_basis(state, rule.needs, destination, now)
        if isinstance(found, str):
            reason = (f"no consent or legal gateway covers {rule.needs.value} "
                      f"to {destination.system_id}: {found}")
            return deny(reason, [*checks, Check("basis", False, reason)], purpose, rule.rule_id)
        basis = found
    checks.append(Check("basis", True, basis.detail))
    if rule.guarded:
        unagreed = _unagreed(rule.guarded, state, now)
        if unagreed:
            checks.append(Check("agreed-fields", True,
                                f"withheld without the family's agreement: {', '.join(sorted(unagreed))}"))
            withhold = _also(withhold, unagreed)

    categories = allowed if basis.categories is None else allowed & basis.categories
    minimised = minimise(payload, categories, withhold)
    missing = [name for name in rule.subject if name not in minimised.data]
    if missing:
        if shielded:
            reason = ("the child is shielded: the directory shows no involvements for them, and "
                      f"{', '.join(missing)} is not among the fields a shielded record shows")
        else:
            reason = (f"{', '.join(missing)}, what {message_type} is about, may not be shared with "
                      f"{destination.system_id} (allowed: {', '.join(sorted(categories)) or 'nothing'})")
        return deny(reason, [*checks, Check("minimisation", False, reason)], purpose, rule.rule_id)
    shared_categories = tuple(sorted(minimised.categories))
    checks.append(Check(
        "minimisation", True,
        f"{len(minimised.shared)} field(s) shared in {', '.join(shared_categories)}; "
        f"{len(minimised.withheld)} withheld",
    ))
    return SharingDecision(
        permitted=True,
        reason=f"{message_type} to {destination.kind} for {purpose} on {basis.kind} basis",
        legal_basis=basis.text, data=minimised.data, shared=minimised.shared,
        withheld=minimised.withheld, purpose=purpose, rule=rule.rule_id,
        basis_kind=basis.kind, basis_refs=basis.refs, categories=shared_categories,
        checks=tuple(checks),
    )
