"""An authority changes its mapping layer and the next message follows it, with nothing restarted."""

from __future__ import annotations

import time

import yaml
from sqlalchemy import select

from hub.store.tables import DeadLetter
from simulators.directory import text
from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit

LP = "specs/directory/standard/lead-professional-changed.yaml"


def test_an_override_renames_a_field_and_changes_a_code_list_for_the_next_message(running_hub):
    first = submit(running_hub.url, running_hub.caf_token, melanie_agreed("before")).json()
    settled(running_hub.url, running_hub.caf_token, first["tracking_id"])

    overrides = running_hub.hub.settings.mappings_dir
    (overrides / LP).parent.mkdir(parents=True)
    (overrides / LP).write_text(yaml.safe_dump({"version": "la-2026-11", "rules": [
        {"id": "lead-agency", "wire": "d:leadProfessional/d:team", "canonical": "lead_professional.agency"},
        {"id": "child-gender", "wire": "d:child/d:gender", "canonical": "child.gender",
         "code_list": "local-directory-gender"},
    ]}))
    # the directory's own codes: a permutation its schema still accepts, so the change shows
    (overrides / "code_lists").mkdir()
    (overrides / "code_lists/local-directory-gender.yaml").write_text(yaml.safe_dump(
        {"id": "local-directory-gender", "version": "1",
         "entries": {"0": "0", "1": "1", "2": "9", "9": "2"}}))
    time.sleep(1.1)

    second = submit(running_hub.url, running_hub.caf_token, melanie_agreed("after")).json()
    settled(running_hub.url, running_hub.caf_token, second["tracking_id"])

    before, after = running_hub.directory.updates()
    assert text(before, "d:leadProfessional/d:agency") == "Northfield School"
    assert text(before, "d:child/d:gender") == "2"
    assert text(after, "d:leadProfessional/d:agency") is None
    assert text(after, "d:leadProfessional/d:team") == "Northfield School"
    assert text(after, "d:child/d:gender") == "9"


def test_a_message_the_destination_mapping_cannot_render_is_dead_lettered_naming_the_rule(running_hub):
    overrides = running_hub.hub.settings.mappings_dir
    (overrides / LP).parent.mkdir(parents=True)
    (overrides / LP).write_text(yaml.safe_dump({"version": "la-broken", "rules": [
        {"id": "child-gender", "wire": "d:child/d:gender", "canonical": "child.gender",
         "code_list": "local-directory-gender"},
    ]}))
    (overrides / "code_lists").mkdir()
    (overrides / "code_lists/local-directory-gender.yaml").write_text(yaml.safe_dump(
        {"id": "local-directory-gender", "version": "1", "entries": {"1": "1"}}))
    time.sleep(1.1)

    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed("unrenderable")).json()
    final = settled(running_hub.url, running_hub.caf_token, reply["tracking_id"])

    assert final["status"] == "processed"
    [delivery] = final["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("dead", 0)
    with running_hub.database.read() as session:
        [dead] = session.execute(select(DeadLetter)).scalars().all()
    assert dead.reason == "could not render: rule child-gender at d:child/d:gender"
    assert running_hub.directory.state.received == []
