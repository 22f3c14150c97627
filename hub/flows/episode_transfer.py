"""Episode transfer: a child moves, and one CAF episode moves with it to the new authority's CAF system.

Either side may be the national CAF system or a local eCAF module (two CAF profiles; the mapping
layer renders the episode in the receiver's own format, each field with its provenance).

1. The sending CAF system asks for the transfer (``episode-transferred``, naming the authority it
   goes to). The receiving system is the registered CAF system whose id or registered name is
   that authority. The family's consent to the CAF must cover it; without it the request is
   held, with the reason, and nothing is sent.
2. The episode is delivered to the receiver; the disclosure is decided and audited with its
   legal basis like every other.
3. The receiver answers (``episode-transfer-answered``). Accepted: the sender is told to close
   its copy with reason *moved out of area*, and the directories show the lead professional and
   the involvements as the receiver now records them. Rejected: nothing is closed, the sender's
   episode stays open, and the sender is told why.

Nothing is half-done: the sender's copy is closed only on the receiver's acceptance.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.audit import record
from hub.canonical import Envelope, Purpose, utcnow
from hub.canonical.events import (
    CafEpisodeClosed,
    EpisodeTransferAnswered,
    EpisodeTransferred,
    InvolvementChanged,
    LeadProfessionalChanged,
)
from hub.episodes import CLOSED, record_episode
from hub.flows.context import FlowContext, Outgoing
from hub.flows.directory_sync import identified, to_directories, version_of
from hub.registry import receivers
from hub.sealing import open_json
from hub.store.tables import Base, ConnectedSystem, InboxMessage

MOVED_OUT_OF_AREA = "moved-out-of-area"
AWAITING_CONSENT, SENT, COMPLETED, REJECTED = "awaiting-consent", "sent", "completed", "rejected"


class EpisodeTransfer(Base):
    """One episode's move from one CAF system to another, and where it stands."""

    __tablename__ = "episode_transfers"
    receiver: Mapped[str] = mapped_column(String(64), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sender: Mapped[str] = mapped_column(String(64))
    child_id: Mapped[str] = mapped_column(String(36), index=True)
    request_id: Mapped[str] = mapped_column(String(36))  # the sender's request, as received
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def receiving_system(session: Session, sender: str, authority: str) -> ConnectedSystem | None:
    """The CAF system registered for the authority the episode goes to (by id or registered name)."""
    wanted = authority.strip().casefold()
    for system in receivers(session, "episode-transferred"):
        if system.kind == "caf_system" and system.system_id != sender \
                and wanted in (system.system_id.casefold(), system.name.strip().casefold()):
            return system
    return None


def transfer_requested(ctx: FlowContext) -> list[Outgoing]:
    event = ctx.envelope.payload
    if not isinstance(event, EpisodeTransferred):
        return []
    child_id = identified(ctx, event.child)
    if child_id is None:
        return []
    sender = ctx.envelope.source_system
    receiver = receiving_system(ctx.session, sender, event.to_authority)
    episode_id = event.episode.episode_id
    if receiver is None:
        ctx.hold(f"no CAF system is registered for authority {event.to_authority}: episode "
                 f"{episode_id} was not sent")
        return []
    decision = ctx.permits(receiver, ctx.envelope)
    status = SENT if decision.permitted else AWAITING_CONSENT
    _record(ctx.session, receiver.system_id, episode_id, sender, child_id, ctx.message_id, status,
            None if decision.permitted else decision.reason)
    if not decision.permitted:
        ctx.hold(f"the transfer of episode {episode_id} to {receiver.system_id} waits for the "
                 f"family's consent: {decision.reason}")
        return []
    return [Outgoing(receiver, ctx.envelope)]


def transfer_answered(ctx: FlowContext) -> list[Outgoing]:
    event = ctx.envelope.payload
    if not isinstance(event, EpisodeTransferAnswered):
        return []
    receiver = ctx.envelope.source_system
    transfer = ctx.session.get(EpisodeTransfer, (receiver, event.episode_id), with_for_update=True)
    if transfer is None or transfer.status != SENT:
        ctx.hold(f"{receiver} answered about episode {event.episode_id}, but no transfer of it to "
                 f"{receiver} is waiting for an answer")
        return []
    request = _request(ctx, transfer.request_id)
    sender = ctx.session.get(ConnectedSystem, transfer.sender)
    assert sender is not None
    child = request.child
    transfer.updated_at = utcnow()
    if not event.accepted:
        transfer.status, transfer.reason = REJECTED, event.reason or "no reason given"
        record(ctx.session, "episode-transfer.rejected", receiver, ctx.message_id,
               episode_id=event.episode_id, sender=sender.system_id, reason=transfer.reason)
        told = event.model_copy(update={"child": child, "reason": transfer.reason})
        return [Outgoing(sender, ctx.derive(told, Purpose.EPISODE_TRANSFER))]
    transfer.status = COMPLETED
    record_episode(ctx.session, sender.system_id, event.episode_id, transfer.child_id, CLOSED)
    record(ctx.session, "episode-transfer.completed", receiver, ctx.message_id,
           episode_id=event.episode_id, sender=sender.system_id)
    closed = CafEpisodeClosed(child=child, episode_id=event.episode_id, reason=MOVED_OUT_OF_AREA,
                              closed_on=event.answered_on)
    outgoing = [Outgoing(sender, ctx.derive(closed, Purpose.EPISODE_TRANSFER))]
    version = version_of(ctx)
    if event.lead_professional is not None:
        lead = LeadProfessionalChanged(
            child=child, episode_id=event.episode_id, episode_version=request.episode.version,
            lead_professional=event.lead_professional, agreed_at=ctx.envelope.occurred_at)
        outgoing += to_directories(ctx, transfer.child_id, ctx.derive(lead, Purpose.DIRECTORY_UPDATE))
    for offset, involvement in enumerate(event.involvements):
        changed = InvolvementChanged(child=child, involvement=involvement, version=version + offset)
        outgoing += to_directories(ctx, transfer.child_id, ctx.derive(changed, Purpose.DIRECTORY_UPDATE))
    return outgoing


def _record(
    session: Session, receiver: str, episode_id: str, sender: str, child_id: str, request_id: str,
    status: str, reason: str | None,
) -> None:
    row = session.get(EpisodeTransfer, (receiver, episode_id))
    if row is None:
        row = EpisodeTransfer(receiver=receiver, episode_id=episode_id)
        session.add(row)
    row.sender, row.child_id, row.request_id = sender, child_id, request_id
    row.status, row.reason, row.updated_at = status, reason, utcnow()


def _request(ctx: FlowContext, request_id: str) -> EpisodeTransferred:
    row = ctx.session.get(InboxMessage, request_id)
    assert row is not None
    envelope = Envelope.model_validate(
        open_json(ctx.keyring, row.key_id, row.envelope_sealed, f"inbox:{row.message_id}"))
    assert isinstance(envelope.payload, EpisodeTransferred)
    return envelope.payload

