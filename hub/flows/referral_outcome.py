"""What the case system says back about a referral: an allocation, a decision.

Allocation: the allocated social worker joins the CAF episode's TAC in place of the duty team,
and the directory shows them as children's social care's contact.
Decision (initial assessment, no further action, signposted, section 47): the referrer is told
what was decided, under the referral's own correlation id, so its whole story reads as one.
An answer about a referral the hub does not know is held with the reason.
"""

from __future__ import annotations

from hub.canonical import Purpose, utcnow
from hub.canonical.events import CaseAllocated, ReferralDecided, TacMemberAdded
from hub.flows.context import FlowContext, Outgoing
from hub.flows.directory_sync import social_care_involvement
from hub.flows.step_up import acknowledgement, to
from hub.referrals import by_reference, open_referral
from hub.store.tables import ReferralRecord


def _referral(ctx: FlowContext, reference: str | None) -> ReferralRecord | None:
    event = ctx.envelope.payload
    identity = ctx.identity.resolve(ctx.session, event.child, ctx.envelope.source_system,
                                    ctx.message_id)
    if identity.outcome == "review":
        ctx.hold(f"the child could not be identified with certainty ({identity.reason}); "
                 f"identity review {identity.review_id}")
        return None
    if reference is None:
        found = open_referral(ctx.session, identity.child_id)
    else:
        found = by_reference(ctx.session, identity.child_id, reference)
    if found is None:
        ctx.hold("no referral for this child is known to the hub")
    return found


def case_allocated(ctx: FlowContext) -> list[Outgoing]:
    event = ctx.envelope.payload
    if not isinstance(event, CaseAllocated):
        return []
    referral = _referral(ctx, None)
    if referral is None or referral.child_id is None:
        return []
    outgoing = social_care_involvement(ctx, event.child, referral.child_id, event.social_worker,
                                       correlation_id=referral.correlation_id)
    if referral.caf_system is None or referral.episode_id is None:
        return outgoing
    joined = TacMemberAdded(child=event.child, episode_id=referral.episode_id,
                            member=event.social_worker, added_on=event.allocated_on)
    envelope = ctx.derive(joined, Purpose.REFERRAL_TO_SOCIAL_CARE, referral.correlation_id)
    return outgoing + to(ctx, "tac-member-added", "caf_system", envelope, only=referral.caf_system)


def referral_decided(ctx: FlowContext) -> list[Outgoing]:
    event = ctx.envelope.payload
    if not isinstance(event, ReferralDecided):
        return []
    referral = _referral(ctx, event.referral_id)
    if referral is None:
        return []
    referral.status, referral.outcome, referral.decided_at = "decided", event.outcome.value, utcnow()
    return acknowledgement(
        ctx, event.child, referral.referrer_reference, referral.referrer_system,
        outcome=event.outcome.value, correlation_id=referral.correlation_id,
        tracking_id=referral.referral_id,
    )
