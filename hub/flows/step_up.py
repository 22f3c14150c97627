"""Referrals into children's social care: step-up from a CAF episode, and partner agencies' referrals.

A practitioner on the CAF system refers a child with a CAF episode (step-up), or a partner
agency refers a child with no CAF (a GP's FHIR ServiceRequest):

1. The child is identified across systems (a match the hub cannot justify holds the referral
   for review); a second referral while one is open is linked to it as a re-referral.
2. The referral may go only where consent to referral or a recorded gateway covers it: if not,
   it is held and the referrer is told why.
3. Each case system receives the contact/referral with the CAF assessment as draft evidence,
   mapped onto the Assessment Framework, every item keeping its element, version, author, date.
4. Step-up only: the CAF system is asked to add the duty team to the TAC (until a social worker
   is allocated) and to mark the episode as social care's responsibility, or close it with
   reason "transfer to alternative holistic assessment", as the authority has chosen.
5. Each directory is told children's social care is involved: the team's contact and the date.
6. The referrer is told the referral was received, with the hub's tracking id.
Every message shares the referral's correlation id.
"""

from __future__ import annotations

from hub.canonical import Envelope, Purpose
from hub.canonical.casework import CafEpisode, Referral
from hub.canonical.events import (
    CafEpisodeClosed,
    PartnerReferral,
    ReferralAcknowledged,
    ReferralToSocialCare,
    ResponsibilityTransferred,
    TacMemberAdded,
)
from hub.canonical.people import Child, ContactDetails, PersonName, Practitioner
from hub.episodes import CLOSED_FOR_TRANSFER, SOCIAL_CARE_RESPONSIBLE, record_episode
from hub.flows.context import FlowContext, Outgoing
from hub.flows.directory_sync import SOCIAL_CARE, social_care_involvement
from hub.referrals import OPEN, open_referral, record_referral
from hub.registry import receivers
from hub.store.tables import ConnectedSystem
from mappings.assessment_framework import draft_evidence

TRANSFER_REASON = "transfer-to-alternative-holistic-assessment"


def duty_team(ctx: FlowContext) -> Practitioner:
    settings = ctx.settings
    contact = ContactDetails(phone=settings.duty_team_phone, email=settings.duty_team_email) \
        if settings.duty_team_phone or settings.duty_team_email else None
    return Practitioner(
        practitioner_id=settings.duty_team_id, name=PersonName(given="Duty", family="Team"),
        role="Social care representative", agency=SOCIAL_CARE, team=settings.duty_team_name,
        contact=contact,
    )


def to(ctx: FlowContext, message_type: str, kind: str, envelope: Envelope,
       only: str | None = None) -> list[Outgoing]:
    return [Outgoing(system, envelope) for system in receivers(ctx.session, message_type)
            if system.kind == kind and (only is None or system.system_id == only)]


def acknowledgement(
    ctx: FlowContext, child: Child, reference: str, referrer_system: str,
    held: str | None = None, outcome: str | None = None, correlation_id: str | None = None,
    tracking_id: str | None = None,
) -> list[Outgoing]:
    event = ReferralAcknowledged(
        child=child, referral_id=reference, tracking_id=tracking_id or ctx.message_id,
        outcome=outcome, held_reason=held, acknowledged_at=ctx.envelope.received_at,
    )
    envelope = ctx.derive(event, Purpose.REFERRAL_TO_SOCIAL_CARE, correlation_id)
    system = ctx.session.get(ConnectedSystem, referrer_system)
    if system is None or "referral-acknowledged" not in system.allowed_out:
        return []
    return [Outgoing(system, envelope)]


def step_up(ctx: FlowContext) -> list[Outgoing]:
    """A CAF system's referral: the episode comes along, and its TAC learns social care joined."""
    event = ctx.envelope.payload
    if not isinstance(event, ReferralToSocialCare) or event.episode is None:
        return []
    return refer(ctx, event.child, event.referral, event.episode)


def partner_referral(ctx: FlowContext) -> list[Outgoing]:
    """A partner agency's referral (a GP's FHIR ServiceRequest, a school's referral): the same
    contact/referral on the case system, the same acknowledgement and outcome to the referrer."""
    event = ctx.envelope.payload
    if not isinstance(event, PartnerReferral):
        return []
    return refer(ctx, event.child, event.referral, None)


def refer(
    ctx: FlowContext, child: Child, referral: Referral, episode: CafEpisode | None,
) -> list[Outgoing]:
    source = ctx.envelope.source_system
    reference = referral.referral_id
    episode_id = episode.episode_id if episode else None
    caf_system = source if episode else None

    def hold(reason: str, status: str, child_id: str | None = None) -> list[Outgoing]:
        ctx.hold(reason)
        record_referral(ctx.session, ctx.message_id, ctx.envelope.correlation_id, child_id, source,
                        reference, status, caf_system, episode_id)
        return acknowledgement(ctx, child, reference, source, held=reason)

    identity = ctx.identity.resolve(ctx.session, child, source, ctx.message_id)
    if identity.outcome == "review":
        return hold(f"the child could not be identified with certainty ({identity.reason}); "
                    f"identity review {identity.review_id}", "held-identity")
    previous = open_referral(ctx.session, identity.child_id)
    referral = referral.model_copy(update={
        "draft_evidence": draft_evidence(episode) if episode else [],
        "previous_referral_id": previous.referral_id if previous else None,
    })
    to_case = ctx.derive(ReferralToSocialCare(child=child, episode=episode, referral=referral),
                         Purpose.REFERRAL_TO_SOCIAL_CARE)
    cases = to(ctx, "referral-to-social-care", "case_system", to_case)
    if not cases:
        return hold("no case system is registered to receive referrals", "held-routing",
                    identity.child_id)
    refused = [ctx.permits(o.destination, to_case) for o in cases]
    refused = [decision for decision in refused if not decision.permitted]
    if refused:
        return hold(f"the referral may not be shared yet: {refused[0].reason}", "held-consent",
                    identity.child_id)
    record_referral(ctx.session, ctx.message_id, ctx.envelope.correlation_id, identity.child_id,
                    source, reference, OPEN, caf_system, episode_id,
                    previous.referral_id if previous else None)
    outgoing = cases + acknowledgement(ctx, child, reference, source)
    if previous is None:
        outgoing += social_care_involvement(ctx, child, identity.child_id, duty_team(ctx))
        if episode is not None:
            outgoing += social_care_joins(ctx, child, identity.child_id, episode.episode_id)
    return outgoing


def social_care_joins(ctx: FlowContext, child: Child, child_id: str, episode_id: str) -> list[Outgoing]:
    """The CAF episode's TAC gains the duty team, and the episode changes hands."""
    team, source = duty_team(ctx), ctx.envelope.source_system
    today = ctx.envelope.occurred_at.date()
    joined = TacMemberAdded(child=child, episode_id=episode_id, member=team, added_on=today)
    if ctx.settings.step_up_episode == "close":
        episode_change = CafEpisodeClosed(child=child, episode_id=episode_id,
                                          reason=TRANSFER_REASON, closed_on=today)
        status = CLOSED_FOR_TRANSFER
    else:
        episode_change = ResponsibilityTransferred(
            child=child, episode_id=episode_id, social_care_contact=team, transferred_on=today)
        status = SOCIAL_CARE_RESPONSIBLE
    record_episode(ctx.session, source, episode_id, child_id, status, ctx.message_id)
    purpose = Purpose.REFERRAL_TO_SOCIAL_CARE
    return (
        to(ctx, "tac-member-added", "caf_system", ctx.derive(joined, purpose), only=source)
        + to(ctx, episode_change.event_type, "caf_system", ctx.derive(episode_change, purpose),
             only=source)
    )
