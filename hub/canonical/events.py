"""Canonical events: what happened, independent of any connected system's format.

Each event names its type in ``event_type``; ``EVENT_TYPES`` is the registry the envelope uses
to read a payload back. Events about one child carry the child; ``version`` fields order updates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from hub.canonical.casework import CafEpisode, Closure, Involvement, Referral, ReferralOutcome
from hub.canonical.categories import DataCategory as C
from hub.canonical.categories import categorised
from hub.canonical.people import Canonical, Child, Practitioner


def _type(name: str):  # type: ignore[no-untyped-def]
    return categorised(C.INVOLVEMENT, name)


class LeadProfessionalChanged(Canonical):
    """A Team Around the Child agreed (or changed) the child's lead professional."""

    event_type: Literal["lead-professional-changed"] = _type("lead-professional-changed")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    episode_version: int = categorised(C.INVOLVEMENT)
    lead_professional: Practitioner = categorised(C.INVOLVEMENT)
    agreed_at: datetime = categorised(C.INVOLVEMENT)


class CafEpisodeRecorded(Canonical):
    """A CAF episode was created or updated on a CAF system (the whole episode, this version)."""

    event_type: Literal["caf-episode-recorded"] = _type("caf-episode-recorded")
    child: Child = categorised(C.IDENTITY)
    episode: CafEpisode = categorised(C.INVOLVEMENT)
    recorded_by: Practitioner = categorised(C.INVOLVEMENT)
    recorded_at: datetime = categorised(C.INVOLVEMENT)


class ReferralToSocialCare(Canonical):
    """A referral into children's social care: a step-up from a CAF episode, or (without one) a
    partner agency's referral as the case system receives it."""

    event_type: Literal["referral-to-social-care"] = _type("referral-to-social-care")
    child: Child = categorised(C.IDENTITY)
    episode: CafEpisode | None = categorised(C.INVOLVEMENT, None)  # None: a partner's referral
    referral: Referral = categorised(C.INVOLVEMENT)


class TacMemberAdded(Canonical):
    """A practitioner joined the Team Around the Child of an episode."""

    event_type: Literal["tac-member-added"] = _type("tac-member-added")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    member: Practitioner = categorised(C.INVOLVEMENT)
    added_on: date = categorised(C.INVOLVEMENT)


class ResponsibilityTransferred(Canonical):
    """The episode is now the responsibility of children's social care (it stays open)."""

    event_type: Literal["responsibility-transferred"] = _type("responsibility-transferred")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    social_care_contact: Practitioner = categorised(C.INVOLVEMENT)
    transferred_on: date = categorised(C.INVOLVEMENT)


class CafEpisodeClosed(Canonical):
    """A CAF episode was closed, with one of the CAF closure reasons."""

    event_type: Literal["caf-episode-closed"] = _type("caf-episode-closed")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    reason: str = categorised(C.CASE)
    closed_on: date = categorised(C.INVOLVEMENT)


class StepDownRequested(Canonical):
    """Step-down after social care closed with needs remaining: hand an open episode back (social
    care's responsibility removed), or re-open a closed one, or start a CAF re-assessment."""

    event_type: Literal["step-down-requested"] = _type("step-down-requested")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    action: Literal["hand-back", "reopen", "reassess"] = categorised(C.INVOLVEMENT)
    closure: Closure = categorised(C.CASE)
    proposed_lead_professional: Practitioner | None = categorised(C.INVOLVEMENT, None)


class EpisodeTransferred(Canonical):
    """A single episode moves between authorities' CAF systems."""

    event_type: Literal["episode-transferred"] = _type("episode-transferred")
    child: Child = categorised(C.IDENTITY)
    episode: CafEpisode = categorised(C.INVOLVEMENT)
    from_authority: str = categorised(C.INVOLVEMENT)
    to_authority: str = categorised(C.INVOLVEMENT)


class EpisodeTransferAnswered(Canonical):
    """The receiving authority's CAF system accepted a transferred episode (with the lead
    professional and involvements as it now records them) or rejected it, saying why."""

    event_type: Literal["episode-transfer-answered"] = _type("episode-transfer-answered")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    accepted: bool = categorised(C.INVOLVEMENT)
    reason: str | None = categorised(C.INVOLVEMENT, None)
    lead_professional: Practitioner | None = categorised(C.INVOLVEMENT, None)
    involvements: list[Involvement] = categorised(C.INVOLVEMENT, default_factory=list)
    answered_on: date = categorised(C.INVOLVEMENT)


class InvolvementChanged(Canonical):
    """An involvement with a child started or ended (any registered system)."""

    event_type: Literal["involvement-changed"] = _type("involvement-changed")
    child: Child = categorised(C.IDENTITY)
    involvement: Involvement = categorised(C.INVOLVEMENT)
    version: int = categorised(C.INVOLVEMENT)


class CafIndicatorChanged(Canonical):
    """A CAF was completed or updated: the directory shows that a CAF exists, and who to contact."""

    event_type: Literal["caf-indicator-changed"] = _type("caf-indicator-changed")
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    contact: Practitioner = categorised(C.INVOLVEMENT)
    version: int = categorised(C.INVOLVEMENT)


class CaseAllocated(Canonical):
    """The case system allocated a social worker to the child's case."""

    event_type: Literal["case-allocated"] = _type("case-allocated")
    child: Child = categorised(C.IDENTITY)
    case_id: str = categorised(C.INVOLVEMENT)
    social_worker: Practitioner = categorised(C.INVOLVEMENT)
    allocated_on: date = categorised(C.INVOLVEMENT)


class ReferralDecided(Canonical):
    """The case system recorded what it decided on a referral."""

    event_type: Literal["referral-decided"] = _type("referral-decided")
    child: Child = categorised(C.IDENTITY)
    referral_id: str = categorised(C.INVOLVEMENT)
    outcome: ReferralOutcome = categorised(C.CASE)
    decided_on: date = categorised(C.INVOLVEMENT)


class CaseClosed(Canonical):
    """The case system closed the child's case (Children in Need reason for closure)."""

    event_type: Literal["case-closed"] = _type("case-closed")
    child: Child = categorised(C.IDENTITY)
    case_id: str = categorised(C.INVOLVEMENT)
    closure: Closure = categorised(C.CASE)
    social_worker: Practitioner | None = categorised(C.INVOLVEMENT, None)


class CaseClosureNotice(Canonical):
    """Children's social care closed its involvement: the practitioners who carry on are told
    (needs remain: what was asked of the CAF system, who is proposed as lead professional), or
    the referrer is (no needs remain). Never the reason for closure."""

    event_type: Literal["case-closure-notice"] = _type("case-closure-notice")
    child: Child = categorised(C.IDENTITY)
    closed_on: date = categorised(C.INVOLVEMENT)
    needs_remain: bool = categorised(C.INVOLVEMENT)
    next_step: Literal[
        "hand-back", "reopen", "reassess", "awaiting-consent", "none",
    ] = categorised(C.INVOLVEMENT)
    episode_id: str | None = categorised(C.INVOLVEMENT, None)
    referral_id: str | None = categorised(C.INVOLVEMENT, None)  # the referrer's own reference
    proposed_lead_professional: Practitioner | None = categorised(C.INVOLVEMENT, None)
    social_worker: Practitioner | None = categorised(C.INVOLVEMENT, None)
    summary: str | None = categorised(C.CASE, None)  # only where the family agreed to share it


class PartnerReferral(Canonical):
    """A partner agency (health, school, police ...) refers a child into social care."""

    event_type: Literal["partner-referral"] = _type("partner-referral")
    child: Child = categorised(C.IDENTITY)
    referral: Referral = categorised(C.INVOLVEMENT)


class ReferralAcknowledged(Canonical):
    """The hub tells a referrer their referral was received (and, later, what was decided)."""

    event_type: Literal["referral-acknowledged"] = _type("referral-acknowledged")
    child: Child = categorised(C.IDENTITY)
    referral_id: str = categorised(C.INVOLVEMENT)
    tracking_id: str = categorised(C.INVOLVEMENT)
    outcome: ReferralOutcome | None = categorised(C.CASE, None)
    held_reason: str | None = categorised(C.INVOLVEMENT, None)
    acknowledged_at: datetime = categorised(C.INVOLVEMENT)


EVENT_CLASSES: tuple[type[Canonical], ...] = (
    LeadProfessionalChanged, CafEpisodeRecorded, ReferralToSocialCare, TacMemberAdded,
    ResponsibilityTransferred, CafEpisodeClosed, StepDownRequested, EpisodeTransferred,
    InvolvementChanged, CafIndicatorChanged, CaseAllocated, ReferralDecided, CaseClosed,
    PartnerReferral, ReferralAcknowledged, CaseClosureNotice, EpisodeTransferAnswered,
)

CanonicalEvent = Annotated[
    LeadProfessionalChanged | CafEpisodeRecorded | ReferralToSocialCare | TacMemberAdded
    | ResponsibilityTransferred | CafEpisodeClosed | StepDownRequested | EpisodeTransferred
    | InvolvementChanged | CafIndicatorChanged | CaseAllocated | ReferralDecided | CaseClosed
    | PartnerReferral | ReferralAcknowledged | CaseClosureNotice | EpisodeTransferAnswered,
    Field(discriminator="event_type"),
]

EVENT_TYPES: dict[str, type[Canonical]] = {
    cls.model_fields["event_type"].default: cls for cls in EVENT_CLASSES
}
