"""Lead professional agreed or changed at a TAC: the directories' lead professional flag moves.

The child is identified first (a shielded child with no strong match waits for a person, and
nothing reaches a directory), then the change is applied to the hub's record of what the
directories show, in episode version order: an older agreement arriving late is not sent.
Which fields a directory gets, and whether it gets anything at all, is the sharing decision's.
"""

from __future__ import annotations

from hub.flows.context import Outgoing
from hub.flows.directory_sync import lead_professional_agreed

__all__ = ["Outgoing", "lead_professional_agreed"]
