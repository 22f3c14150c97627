"""Personal data is never stored readable: not in the store's tables, not in the database files."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from hub.store.tables import Base
from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit

PERSONAL = [b"Hannah", b"Melanie", b"9434765919", b"northfield.example", b"2011-03-14"]


def test_stored_payloads_are_not_readable_as_plain_text(running_hub):
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    settled(running_hub.url, running_hub.caf_token, tracking_id)
    submit(running_hub.url, running_hub.caf_token, melanie_agreed().replace(b"<gender>", b"<sex>"))

    dump = []
    with running_hub.database.transaction() as session:
        for table in Base.metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in session.execute(select(table)))
    text = "\n".join(dump).encode()
    assert tracking_id.encode() in text, "the dump must include the stored message"
    for value in PERSONAL:
        assert value not in text, f"{value!r} stored readable"

    if running_hub.database.is_sqlite:
        data_dir: Path = running_hub.hub.settings.data_dir
        files = [p for p in data_dir.iterdir() if p.name.startswith(("hub.db", "broker.db"))]
        assert files
        for path in files:
            raw = path.read_bytes()
            for value in PERSONAL:
                assert value not in raw, f"{value!r} readable in {path.name}"


def test_no_personal_data_reaches_the_logs(running_hub, caplog):
    caplog.set_level(logging.DEBUG)
    running_hub.directory.state.failures_left = 1

    good = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()
    submit(running_hub.url, running_hub.caf_token, melanie_agreed("x").replace(b"<gender>2", b"<gender>7"))
    submit(running_hub.url, running_hub.caf_token, melanie_agreed("y").replace(b"</child>", b""))
    settled(running_hub.url, running_hub.caf_token, good["tracking_id"])

    assert caplog.records, "the run must have logged something for this test to mean anything"
    for value in PERSONAL:
        assert value.decode() not in caplog.text
