"""Flows: the content-based router. Each flow says, for one kind of canonical event, which
connected systems should hear about it and as which message. Flows speak only canonical; they
do not decide what may be shared (``consent``) nor how it is written (``adapters``)."""

from __future__ import annotations

from collections.abc import Callable

from hub.flows.context import FlowContext, Outgoing
from hub.flows.lead_professional import tell_directories
from hub.flows.referral_outcome import case_allocated, referral_decided
from hub.flows.step_up import partner_referral, step_up
from hub.flows.tac_sharing import share_with_tac

Flow = Callable[[FlowContext], list[Outgoing]]

FLOWS: dict[str, Flow] = {
    "lead-professional-changed": tell_directories,
    "caf-episode-recorded": share_with_tac,
    "referral-to-social-care": step_up,
    "partner-referral": partner_referral,
    "case-allocated": case_allocated,
    "referral-decided": referral_decided,
}

__all__ = ["FLOWS", "Flow", "FlowContext", "Outgoing"]
