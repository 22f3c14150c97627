"""Lead professional agreed or changed at a TAC: every registered directory is told.

The directory records the practitioner as the child's lead professional. Which fields it gets,
and whether it gets anything at all (a shielded child), is the sharing decision's business.
"""

from __future__ import annotations

from hub.flows.context import FlowContext, Outgoing
from hub.registry import receivers


def tell_directories(ctx: FlowContext) -> list[Outgoing]:
    return [
        Outgoing(destination=system, envelope=ctx.envelope)
        for system in receivers(ctx.session, ctx.envelope.message_type)
        if system.kind == "directory"
    ]
