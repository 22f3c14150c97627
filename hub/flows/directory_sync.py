"""Directory sync: what the directories show about a child, applied in order, one way.

A lead professional agreed or changed at a TAC, an involvement started or ended by any
registered system, a CAF completed or updated (the CAF indicator, with the practitioner who did
it): each update is first applied to the hub's own record of what the directories should show
(``hub.directory_state``), and goes to the directories only if it is newer than the one held for
the same child and subject. An older update arriving late, or a duplicate, changes nothing and
is audited. An update about a child the hub cannot identify (a shielded child with no strong
match among them) is held for identity review: nothing goes to a directory, no record is opened.
Nothing a directory holds ever comes back into a case record: directories only receive.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select

from hub.audit import record
from hub.canonical import Envelope, Purpose
from hub.canonical.casework import Involvement
from hub.canonical.events import (
    CafEpisodeRecorded,
    CafIndicatorChanged,
    InvolvementChanged,
    LeadProfessionalChanged,
)
from hub.canonical.people import Child, Practitioner
from hub.directory_state import DirectoryState
from hub.flows.context import FlowContext, Outgoing
from hub.flows.tac_sharing import share_with_tac
from hub.identity import NATIONAL
from hub.registry import receivers
from hub.store.tables import ChildRecord

SOCIAL_CARE = "Children's social care"
_SHIELDED = select(ChildRecord.shielded).where(ChildRecord.child_id == bindparam("child"))


def directory_state(ctx: FlowContext) -> DirectoryState:
    return DirectoryState(ctx.keyring, ctx.identity.subjects.secret)


def identified(ctx: FlowContext, child: Child) -> str | None:
    """The hub's id for the child, or None with the message held for a person to match it."""
    identity = ctx.identity.resolve(ctx.session, child, ctx.envelope.source_system, ctx.message_id)
    if identity.outcome == "review":
        ctx.hold(f"the child could not be identified with certainty ({identity.reason}); "
                 f"identity review {identity.review_id}")
        return None
    return identity.child_id


def to_directories(ctx: FlowContext, child_id: str, envelope: Envelope) -> list[Outgoing]:
    """Every directory, if ``envelope`` is newer than what the hub holds for its subject."""
    state = directory_state(ctx)
    envelope = addressed(state, ctx, child_id, envelope)
    applied = state.apply(ctx.session, child_id, envelope, ctx.message_id)
    if not applied.applied:
        record(ctx.session, "directory.update-superseded", "hub", ctx.message_id,
               message_type=envelope.message_type, version=applied.version, reason=applied.reason)
        return []
    return [Outgoing(system, envelope) for system in receivers(ctx.session, envelope.message_type)
            if system.kind == "directory"]


def addressed(state: DirectoryState, ctx: FlowContext, child_id: str, envelope: Envelope) -> Envelope:
    """The update as the directories must get it: shielded if the hub knows the child is (whatever
    the sender's record says), and naming the child by every national identifier the directories
    were given before (a case system's closure does not know the directory id)."""
    event = envelope.payload
    child = event.child
    shielded = ctx.session.connection().execute(_SHIELDED, {"child": child_id}).scalar()
    if shielded and not child.shielded:
        child = child.model_copy(update={"shielded": True})
    held = state.newest(ctx.session, child_id)
    if held is not None:
        known, ids = held.payload.child.identifiers, child.identifiers
        missing = {scheme: getattr(known, scheme) for scheme in NATIONAL
                   if getattr(known, scheme) and not getattr(ids, scheme)}
        if missing:
            child = child.model_copy(update={"identifiers": ids.model_copy(update=missing)})
    if child is event.child:
        return envelope
    return envelope.model_copy(update={"payload": event.model_copy(update={"child": child})})


def version_of(ctx: FlowContext) -> int:
    """Updates the hub derives are ordered by when their cause happened, to the millisecond."""
    return int(ctx.envelope.occurred_at.timestamp() * 1000)


def lead_professional_agreed(ctx: FlowContext) -> list[Outgoing]:
    """The directory's lead professional flag moves to the practitioner the TAC agreed."""
    event = ctx.envelope.payload
    if not isinstance(event, LeadProfessionalChanged):
        return []
    child_id = identified(ctx, event.child)
    return [] if child_id is None else to_directories(ctx, child_id, ctx.envelope)


def involvement_changed(ctx: FlowContext) -> list[Outgoing]:
    """An involvement started or ended, as any registered system reports it."""
    event = ctx.envelope.payload
    if not isinstance(event, InvolvementChanged):
        return []
    child_id = identified(ctx, event.child)
    if child_id is None:
        return []
    envelope = ctx.envelope.model_copy(update={"purpose": Purpose.DIRECTORY_UPDATE})
    return to_directories(ctx, child_id, envelope)


def caf_recorded(ctx: FlowContext) -> list[Outgoing]:
    """A CAF completed or updated: the TAC's agencies get it (their consent permitting), and the
    directories show that a CAF exists and who recorded it, never what it says."""
    event = ctx.envelope.payload
    if not isinstance(event, CafEpisodeRecorded):
        return []
    outgoing = share_with_tac(ctx)
    child_id = identified(ctx, event.child)
    if child_id is None:
        return outgoing
    indicator = CafIndicatorChanged(child=event.child, episode_id=event.episode.episode_id,
                                    contact=event.recorded_by, version=event.episode.version)
    return outgoing + to_directories(ctx, child_id, ctx.derive(indicator, Purpose.DIRECTORY_UPDATE))


def social_care_involvement(
    ctx: FlowContext, child: Child, child_id: str, practitioner: Practitioner | None = None,
    ended_on: date | None = None, correlation_id: str | None = None,
) -> list[Outgoing]:
    """Children's social care on the directory: started (the team's contact), its worker changed,
    or ended (the end date; the directory keeps the contact visible for a year after it)."""
    probe = InvolvementChanged(child=child, version=0, involvement=Involvement(service=SOCIAL_CARE))
    held = directory_state(ctx).current(ctx.session, child_id, probe)
    before = held.payload.involvement if held is not None else None
    ongoing = before is not None and before.end is None
    if ended_on is not None and not ongoing:
        return []  # the directory shows no social care involvement to end
    today = ctx.envelope.occurred_at.date()
    involvement = Involvement(
        service=SOCIAL_CARE,
        practitioner=practitioner or (before.practitioner if before else None),
        start=before.start if ongoing and before.start else today,
        end=ended_on,
    )
    version = version_of(ctx)
    if held is not None and held.payload.version == version:
        version += 1  # two changes in the same instant (a sender's clock in seconds): in arrival order
    changed = InvolvementChanged(child=child, involvement=involvement, version=version)
    return to_directories(ctx, child_id, ctx.derive(changed, Purpose.DIRECTORY_UPDATE, correlation_id))
