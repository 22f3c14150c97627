"""Step-down: children's social care closes the child's case, and the TAC carries on.

A closure with needs remaining (Children in Need reason RC9, or any closure the case system
marks with outstanding needs):

1. The child is identified (a match the hub cannot justify is held for review).
2. The CAF episode the referral came from goes back to the TAC. Still open: the CAF system is
   asked to hand it back (social care's responsibility removed), with the closure summary the
   family agreed to share and the former lead professional proposed. Closed: it is asked to
   re-open it (step-up closed it for a holistic assessment) or to start a CAF re-assessment
   (the CAF side closed it), with the family's consent to the CAF; without that consent the
   request is held, with the reason, and not sent.
3. The former lead professional, the episode co-ordinator (who made the referral) and the TAC's
   agencies are told social care closed and what happens next.
4. The directory shows children's social care's involvement ended (the end date; a directory
   keeps the contact visible for a year after it).

A closure with no needs remaining (RC8, RC1 ...) ends the involvement on the directory and tells
the referrer, nothing more. The reason for closure goes only to the CAF system, never in a notice.
"""

from __future__ import annotations

from sqlalchemy import select

from hub.audit import record
from hub.canonical import Envelope, Purpose
from hub.canonical.casework import CafEpisode
from hub.canonical.events import (
    CafEpisodeClosed,
    CaseClosed,
    CaseClosureNotice,
    LeadProfessionalChanged,
    ReferralToSocialCare,
    StepDownRequested,
)
from hub.canonical.people import Practitioner
from hub.directory_state import LEAD_PROFESSIONAL, DirectoryEntry
from hub.episodes import (
    CLOSED,
    CLOSED_FOR_TRANSFER,
    HANDED_BACK,
    REASSESSMENT_REQUESTED,
    REOPEN_REQUESTED,
    episode,
    is_open,
    record_episode,
)
from hub.flows.context import FlowContext, Outgoing
from hub.flows.directory_sync import (
    SOCIAL_CARE,
    directory_state,
    identified,
    social_care_involvement,
)
from hub.flows.step_up import to
from hub.registry import receivers
from hub.sealing import open_json
from hub.store.tables import ConnectedSystem, InboxMessage, ReferralRecord

STEP_DOWN_REASON = "RC9"  # case closed after assessment, referred to early help
REFERRAL_CLOSED = "closed"
NOTICE = "case-closure-notice"
ASKED = {"hand-back": "hand back", "reopen": "re-open", "reassess": "start a re-assessment of"}
EPISODE_AFTER = {"hand-back": HANDED_BACK, "reopen": REOPEN_REQUESTED, "reassess": REASSESSMENT_REQUESTED}


def case_closed(ctx: FlowContext) -> list[Outgoing]:
    event = ctx.envelope.payload
    if not isinstance(event, CaseClosed):
        return []
    child_id = identified(ctx, event.child)
    if child_id is None:
        return []
    referral = latest_referral(ctx, child_id)
    correlation_id = referral.correlation_id if referral else None
    outgoing = social_care_involvement(ctx, event.child, child_id, ended_on=event.closure.closed_on,
                                       correlation_id=correlation_id)
    if referral is not None:
        referral.status = REFERRAL_CLOSED
    closure = event.closure
    if not (closure.outstanding_needs or closure.reason_code == STEP_DOWN_REASON):
        return outgoing + tell_referrer(ctx, event, referral)
    if referral is None or referral.caf_system is None or referral.episode_id is None:
        ctx.hold("needs remain, but the hub knows no CAF episode for this child to hand back: "
                 "early help has to be arranged by hand")
        return outgoing + tell_referrer(ctx, event, referral, needs_remain=True)
    return outgoing + step_down(ctx, event, child_id, referral)


def episode_closed(ctx: FlowContext) -> list[Outgoing]:
    """The CAF system closed an episode (consent withdrawn, the family disengaged ...): a later
    step-down asks for a re-assessment rather than handing back an episode that is gone."""
    event = ctx.envelope.payload
    if not isinstance(event, CafEpisodeClosed):
        return []
    child_id = identified(ctx, event.child)
    if child_id is not None:
        record_episode(ctx.session, ctx.envelope.source_system, event.episode_id, child_id,
                       CLOSED)
    return []


def latest_referral(ctx: FlowContext, child_id: str) -> ReferralRecord | None:
    """The referral that brought the child into social care and is not closed yet."""
    return ctx.session.execute(
        select(ReferralRecord).where(ReferralRecord.child_id == child_id,
                                     ReferralRecord.status.in_(("open", "decided")))
        .order_by(ReferralRecord.opened_at.desc())
    ).scalars().first()


def step_down(ctx: FlowContext, event: CaseClosed, child_id: str, referral: ReferralRecord) -> list[Outgoing]:
    caf_system, episode_id = referral.caf_system, referral.episode_id
    assert caf_system is not None and episode_id is not None
    known = episode(ctx.session, caf_system, episode_id)
    if is_open(known):
        action = "hand-back"
    elif known is not None and known.status == CLOSED_FOR_TRANSFER:
        action = "reopen"
    else:
        action = "reassess"
    referred, coordinator = referred_episode(ctx, referral)
    lead = former_lead_professional(ctx, child_id, referred)
    request = StepDownRequested(child=event.child, episode_id=episode_id, action=action,
                                closure=event.closure, proposed_lead_professional=lead)
    envelope = ctx.derive(request, Purpose.STEP_DOWN, referral.correlation_id)
    asked = to(ctx, request.event_type, "caf_system", envelope, only=caf_system)
    next_step: str = action
    if not asked:
        ctx.hold(f"{caf_system} is not registered to receive step-down requests: the request to "
                 f"{ASKED[action]} episode {episode_id} was not sent")
    else:
        decision = ctx.permits(asked[0].destination, envelope)
        if decision.permitted:
            record_episode(ctx.session, caf_system, episode_id, child_id, EPISODE_AFTER[action],
                           referral.referral_id)
        else:
            ctx.hold(f"the request to {ASKED[action]} episode {episode_id} waits for the family's "
                     f"consent: {decision.reason}")
            next_step, asked = "awaiting-consent", []
    notice = CaseClosureNotice(
        child=event.child, closed_on=event.closure.closed_on, needs_remain=True,
        next_step=next_step, episode_id=episode_id, proposed_lead_professional=lead,
        social_worker=event.social_worker, summary=event.closure.summary,
    )
    people = [p for p in (lead, coordinator, *(referred.tac_members if referred else ())) if p is not None]
    told = notify(ctx, ctx.derive(notice, Purpose.STEP_DOWN, referral.correlation_id),
                  carrying_on(ctx, people, event.social_worker))
    return asked + told


def referred_episode(
    ctx: FlowContext, referral: ReferralRecord,
) -> tuple[CafEpisode | None, Practitioner | None]:
    """The CAF episode as the step-up referral carried it, and the practitioner who referred."""
    row = ctx.session.get(InboxMessage, referral.referral_id)
    if row is None:
        return None, None
    envelope = Envelope.model_validate(
        open_json(ctx.keyring, row.key_id, row.envelope_sealed, f"inbox:{row.message_id}"))
    payload = envelope.payload
    if not isinstance(payload, ReferralToSocialCare):
        return None, None
    return payload.episode, payload.referral.referrer


def former_lead_professional(
    ctx: FlowContext, child_id: str, referred: CafEpisode | None,
) -> Practitioner | None:
    """The lead professional the TAC agreed last (as the directory was told), else the episode's."""
    entry = ctx.session.get(DirectoryEntry, (child_id, LEAD_PROFESSIONAL))
    if entry is not None:
        agreed = directory_state(ctx).envelope(entry).payload
        if isinstance(agreed, LeadProfessionalChanged) and not social_care(ctx, agreed.lead_professional):
            return agreed.lead_professional
    lead = referred.lead_professional if referred else None
    return None if lead is None or social_care(ctx, lead) else lead


def social_care(ctx: FlowContext, practitioner: Practitioner, worker: Practitioner | None = None) -> bool:
    return (practitioner.practitioner_id in {ctx.settings.duty_team_id,
                                             worker.practitioner_id if worker else None}
            or (practitioner.agency or "").strip().casefold() == SOCIAL_CARE.casefold())


def carrying_on(
    ctx: FlowContext, people: list[Practitioner], worker: Practitioner | None,
) -> list[Practitioner]:
    """The practitioners who carry on with the child: once each, social care's own left out."""
    seen: dict[str, Practitioner] = {}
    for person in people:
        if not social_care(ctx, person, worker):
            seen.setdefault(person.practitioner_id, person)
    return list(seen.values())


def notify(ctx: FlowContext, envelope: Envelope, people: list[Practitioner]) -> list[Outgoing]:
    """Each partner agency with someone carrying on, naming them; the sharing decision (the TAC
    sharing consent) says whether it is told at all."""
    outgoing: list[Outgoing] = []
    for system in receivers(ctx.session, NOTICE):
        if system.kind != "partner":
            continue
        names = {system.system_id.casefold(), system.name.casefold()}
        members = tuple(p for p in people if p.agency and p.agency.strip().casefold() in names)
        if members:
            outgoing.append(Outgoing(system, envelope, recipients=members))
    return outgoing


def tell_referrer(
    ctx: FlowContext, event: CaseClosed, referral: ReferralRecord | None, needs_remain: bool = False,
) -> list[Outgoing]:
    """The referrer is told the case closed ("informed of action"), never why."""
    system = ctx.session.get(ConnectedSystem, referral.referrer_system) if referral else None
    if referral is None or system is None or NOTICE not in system.allowed_out:
        record(ctx.session, "step-down.referrer-not-told", "hub", ctx.message_id,
               reason="no referral known for the child" if referral is None
               else f"{referral.referrer_system} does not receive {NOTICE}")
        return []
    notice = CaseClosureNotice(
        child=event.child, closed_on=event.closure.closed_on, needs_remain=needs_remain,
        next_step="none", referral_id=referral.referrer_reference, social_worker=event.social_worker,
    )
    envelope = ctx.derive(notice, Purpose.REFERRAL_TO_SOCIAL_CARE, referral.correlation_id)
    return [Outgoing(system, envelope)]
