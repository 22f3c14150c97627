"""Flows: the content-based router. Each flow says, for one kind of canonical event, which
connected systems should hear about it and as which message. Flows speak only canonical; they
do not decide what may be shared (``consent``) nor how it is written (``adapters``)."""

from __future__ import annotations

from collections.abc import Callable

from hub.flows.context import FlowContext, Outgoing
from hub.flows.directory_sync import caf_recorded, involvement_changed
from hub.flows.episode_transfer import transfer_answered, transfer_requested
from hub.flows.lead_professional import lead_professional_agreed
from hub.flows.referral_outcome import case_allocated, referral_decided
from hub.flows.step_down import case_closed, episode_closed
from hub.flows.step_up import partner_referral, step_up

Flow = Callable[[FlowContext], list[Outgoing]]

FLOWS: dict[str, Flow] = {
    "lead-professional-changed": lead_professional_agreed,
    "caf-episode-recorded": caf_recorded,
    "referral-to-social-care": step_up,
    "partner-referral": partner_referral,
    "case-allocated": case_allocated,
    "referral-decided": referral_decided,
    "case-closed": case_closed,
    "involvement-changed": involvement_changed,
    "caf-episode-closed": episode_closed,
    "episode-transferred": transfer_requested,
    "episode-transfer-answered": transfer_answered,
}

__all__ = ["FLOWS", "Flow", "FlowContext", "Outgoing"]
