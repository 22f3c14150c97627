"""TAC sharing: a recorded CAF episode goes to the agencies of its Team Around the Child members.

Each TAC member's agency is a registered ``partner`` system, recognised by its system id or its
name (case-insensitive). The flow only routes, for the purpose ``tac-sharing``, naming the TAC
members at each agency as the recipients; whether an agency receives anything, and which fields,
is the sharing decision's business (the child's consent, or a legal gateway, must cover it).
"""

from __future__ import annotations

from hub.canonical import Purpose
from hub.canonical.events import CafEpisodeRecorded
from hub.canonical.people import Practitioner
from hub.flows.context import FlowContext, Outgoing
from hub.registry import receivers


def share_with_tac(ctx: FlowContext) -> list[Outgoing]:
    session, envelope = ctx.session, ctx.envelope
    event = envelope.payload
    if not isinstance(event, CafEpisodeRecorded):
        return []
    sharing = envelope.model_copy(update={"purpose": Purpose.TAC_SHARING})
    outgoing: list[Outgoing] = []
    for system in receivers(session, envelope.message_type):
        if system.kind != "partner":
            continue
        names = {system.system_id.casefold(), system.name.casefold()}
        members: tuple[Practitioner, ...] = tuple(
            member for member in event.episode.tac_members
            if member.agency and member.agency.strip().casefold() in names
        )
        if members:
            outgoing.append(Outgoing(destination=system, envelope=sharing, recipients=members))
    return outgoing
