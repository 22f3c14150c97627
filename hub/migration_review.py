"""Releasing an episode held back from a migration, one at a time, once its reason is dealt with.

The episode is checked again exactly as the run checked it (identity, then the consent to the
CAF for the national system, now that consent may have been captured in the register) and, if it
may go, imported on its own as a batch of one. Still not permitted: it stays held with the
reason as it stands now. An invalid episode has nothing the hub could import; it is corrected in
the local system and exported again, and the next run reads it afresh.
"""

from __future__ import annotations

from hub.audit import record
from hub.bootstrap import Hub
from hub.canonical import Envelope
from hub.migration import HELD, IMPORTED, INVALID, Migration, MigrationEpisode, MigrationError
from hub.sealing import open_json


def release(hub: Hub, export_id: str, episode_id: str, actor: str,
            target: str = "caf-national") -> tuple[str, str]:
    """(outcome, why): ``imported``, or ``held`` with the reason it is still held."""
    with hub.database.transaction() as session:
        row = session.get(MigrationEpisode, (export_id, episode_id))
        if row is None or row.outcome != HELD:
            raise MigrationError(f"episode {episode_id} of {export_id} is not held back")
        if row.reason == INVALID or row.sealed is None or row.key_id is None:
            return HELD, f"{INVALID}: {row.detail}; correct it in the local system and export it again"
        kept = open_json(hub.keyring, row.key_id, row.sealed, f"migration:{export_id}:{episode_id}")
        envelope = Envelope.model_validate(kept["envelope"])
        source = envelope.source_system
    migration = Migration(hub, export_id, source, target)
    with hub.database.transaction() as session:
        row = session.get(MigrationEpisode, (export_id, episode_id))
        assert row is not None
        session.delete(row)
        session.flush()
        record(session, "migration.release-asked", actor, envelope.message_id, export_id=export_id,
               episode_id=episode_id)
        planned = migration.recheck(session, envelope)
    if planned is None:
        _, outcome, reason, detail = migration.report.episodes[-1]
        return outcome, f"{reason}: {detail}"
    migration.send([planned])
    return IMPORTED, ""
