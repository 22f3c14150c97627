"""Which adapter speaks for which kind of connected system."""

from __future__ import annotations

from adapters.base import InboundAdapter, OutboundAdapter
from adapters.caf_system.inbound import CafSystemInbound
from adapters.directory.outbound import DirectoryOutbound

INBOUND: dict[str, InboundAdapter] = {adapter.kind: adapter for adapter in (CafSystemInbound(),)}
OUTBOUND: dict[str, OutboundAdapter] = {
    adapter.kind: adapter for adapter in (DirectoryOutbound(),)
}
KINDS = ("caf_system", "case_system", "directory", "partner")


def inbound_for(kind: str) -> InboundAdapter | None:
    return INBOUND.get(kind)


def outbound_for(kind: str) -> OutboundAdapter | None:
    return OUTBOUND.get(kind)


def default_message_types(kind: str) -> tuple[list[str], list[str]]:
    """Everything the kind's adapters can read and render: the registry's default allow-lists."""
    inbound, outbound = inbound_for(kind), outbound_for(kind)
    return (
        sorted(inbound.accepts) if inbound else [],
        sorted(outbound.sends) if outbound else [],
    )
