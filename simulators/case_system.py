"""A simulated case system (ICS): stores the contacts and referrals the hub creates on it."""

from __future__ import annotations

from simulators.peer import PeerState, peer_app


class CaseSystemSimulator:
    def __init__(self) -> None:
        self.state = PeerState()
        self.app = peer_app("Simulated case system", self.state)
