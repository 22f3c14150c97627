"""Canonical casework: involvements, CAF episodes, referrals and closures."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from hub.canonical.categories import DataCategory as C
from hub.canonical.categories import categorised
from hub.canonical.people import Canonical, Practitioner


class Involvement(Canonical):
    service: str = categorised(C.INVOLVEMENT)
    practitioner: Practitioner | None = categorised(C.INVOLVEMENT, None)
    start: date | None = categorised(C.INVOLVEMENT, None)
    end: date | None = categorised(C.INVOLVEMENT, None)
    lead_professional: bool = categorised(C.INVOLVEMENT, False)
    sensitive: bool = categorised(C.INVOLVEMENT, False)  # a sensitive service: contact is brokered
    sensitive_service: str | None = categorised(C.SENSITIVE, None)


class AssessmentArea(StrEnum):
    DEVELOPMENT = "development-of-the-child"
    PARENTS_AND_CARERS = "parents-and-carers"
    FAMILY_AND_ENVIRONMENT = "family-and-environmental"


class AssessmentElement(Canonical):
    area: AssessmentArea = categorised(C.CASE)
    element: str = categorised(C.CASE)
    text: str = categorised(C.CASE)
    author: str | None = categorised(C.CASE, None)
    recorded_on: date | None = categorised(C.CASE, None)


class PlanAction(Canonical):
    need: str = categorised(C.CASE)
    action: str = categorised(C.CASE)
    owner: str | None = categorised(C.CASE, None)
    review_by: date | None = categorised(C.CASE, None)


class ConsentStatement(Canonical):
    given_by: str = categorised(C.CASE)
    competence_judgement: str | None = categorised(C.CASE, None)
    purposes: list[str] = categorised(C.CASE, default_factory=list)
    agencies: list[str] = categorised(C.CASE, default_factory=list)
    given_at: datetime | None = categorised(C.CASE, None)


class EpisodeStatus(StrEnum):
    OPEN = "open"
    SOCIAL_CARE_RESPONSIBLE = "responsibility-transferred-to-social-care"
    CLOSED = "closed"


class CafEpisode(Canonical):
    episode_id: str = categorised(C.INVOLVEMENT)
    version: int = categorised(C.INVOLVEMENT, 1)
    status: EpisodeStatus = categorised(C.INVOLVEMENT, EpisodeStatus.OPEN)
    lead_professional: Practitioner | None = categorised(C.INVOLVEMENT, None)
    tac_members: list[Practitioner] = categorised(C.INVOLVEMENT, default_factory=list)
    assessment: list[AssessmentElement] = categorised(C.CASE, default_factory=list)
    delivery_plan: list[PlanAction] = categorised(C.CASE, default_factory=list)
    consent: ConsentStatement | None = categorised(C.CASE, None)
    closure_reason: str | None = categorised(C.CASE, None)


class EvidenceItem(Canonical):
    """One CAF element carried into social care as draft evidence for an Assessment Framework
    dimension: never a social worker's conclusion, always with where it came from."""

    dimension: str = categorised(C.CASE)
    caf_element: str = categorised(C.CASE)
    text: str = categorised(C.CASE)
    episode_id: str = categorised(C.CASE)
    episode_version: int = categorised(C.CASE)
    author: str | None = categorised(C.CASE, None)
    recorded_on: date | None = categorised(C.CASE, None)


class Referral(Canonical):
    referral_id: str = categorised(C.INVOLVEMENT)
    source: str = categorised(C.CASE)
    reason: str = categorised(C.CASE)
    primary_need: str | None = categorised(C.CASE, None)
    referrer: Practitioner = categorised(C.INVOLVEMENT)
    referred_at: datetime = categorised(C.INVOLVEMENT)
    draft_evidence: list[EvidenceItem] = categorised(C.CASE, default_factory=list)
    previous_referral_id: str | None = categorised(C.INVOLVEMENT, None)  # a re-referral


class ReferralOutcome(StrEnum):
    INITIAL_ASSESSMENT = "initial-assessment"
    NO_FURTHER_ACTION = "no-further-action"
    SIGNPOSTED = "signposted"
    SECTION_47 = "section-47"


class Closure(Canonical):
    reason_code: str = categorised(C.CASE)
    closed_on: date = categorised(C.INVOLVEMENT)
    outstanding_needs: bool = categorised(C.CASE, False)
    summary: str | None = categorised(C.CASE, None)
