"""A simulated directory: keeps each child's involvements and lead professional as it is told."""

from __future__ import annotations

from simulators.peer import PeerState, peer_app


class DirectorySimulator:
    def __init__(self) -> None:
        self.state = PeerState()
        self.app = peer_app("Simulated directory", self.state)

    def lead_professionals(self) -> dict[str, dict]:
        """The lead professional each child has now, by the child's CAF id, newest version wins."""
        current: dict[str, tuple[int, dict]] = {}
        with self.state.lock:
            for item in self.state.received:
                update = item.body
                if update.get("type") != "lead-professional-changed":
                    continue
                child_id = update["child"]["identifiers"].get("cafChildId")
                version = update.get("version") or 0
                if child_id not in current or current[child_id][0] <= version:
                    current[child_id] = (version, update["involvement"]["practitioner"])
        return {child_id: practitioner for child_id, (_, practitioner) in current.items()}
