"""Bad input gets a precise 4xx, is kept in quarantine, and never stops the hub."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from hub.crypto import Sealed
from hub.registry import register
from hub.store.tables import InboxMessage, QuarantinedMessage
from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE leadProfessionalChanged [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<leadProfessionalChanged xmlns="urn:childrens-hub:caf:1" version="1">&secret;</leadProfessionalChanged>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def quarantined(running_hub, quarantine_id: str) -> QuarantinedMessage:
    with running_hub.database.transaction() as session:
        return session.get(QuarantinedMessage, quarantine_id)


def test_a_message_without_a_token_or_with_an_unknown_token_gets_401(running_hub):
    anonymous = httpx.post(f"{running_hub.url}/v1/systems/caf-national/messages",
                           content=melanie_agreed(), headers={"Content-Type": "application/xml"})
    impostor = submit(running_hub.url, "not-a-registered-token", melanie_agreed())

    for reply in (anonymous, impostor):
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert reply.json()["errors"][0]["field"] == "Authorization"


def test_a_token_used_for_another_systems_endpoint_gets_403(running_hub):
    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed(), system="directory")

    assert reply.status_code == 403
    assert reply.json()["errors"][0]["rule"] == "auth.system"


def test_a_message_type_the_system_may_not_send_gets_403_and_is_quarantined(running_hub):
    with running_hub.database.transaction() as session:
        token = register(session, "caf-local", "Local eCAF", "caf_system", allowed_in=[]).token

    reply = submit(running_hub.url, token, melanie_agreed(), system="caf-local")

    assert reply.status_code == 403
    problem = reply.json()
    assert problem["errors"][0] == {
        "field": "message type", "rule": "system.allowed-in",
        "message": "caf-local is not allowed to send lead-professional-changed",
    }
    kept = quarantined(running_hub, problem["quarantine_id"])
    assert (kept.source_system, kept.status_code) == ("caf-local", 403)


@pytest.mark.parametrize(
    ("body", "status", "rule", "field_has"),
    [
        (b"<leadProfessionalChanged><child></leadProfessionalChanged>", 400,
         "xml.well-formed", "line 1"),
        (XXE, 400, "xml.no-dtd-or-entities", None),
        (BILLION_LAUGHS, 400, "xml.no-dtd-or-entities", None),
        (melanie_agreed().replace(b"<gender>2</gender>", b"<gender>7</gender>"), 422,
         "xml.schema.schemav_cvc_enumeration_valid", "gender"),
        (melanie_agreed().replace(b"<dateOfBirth>2011-03-14</dateOfBirth>", b""), 422,
         "xml.schema.schemav_element_content", "child"),
        (melanie_agreed().replace(b"9434765919", b"9434765918"), 422,
         "identifier.nhs-number.invalid-checksum", "/leadProfessionalChanged/child/nhsNumber"),
    ],
    ids=["malformed", "xxe", "billion-laughs", "bad-gender-code", "missing-date-of-birth",
         "nhs-number-check-digit"],
)
def test_bad_xml_gets_a_4xx_naming_field_and_rule_and_is_quarantined(
    running_hub, body, status, rule, field_has,
):
    reply = submit(running_hub.url, running_hub.caf_token, body)

    assert reply.status_code == status
    problem = reply.json()
    assert reply.headers["content-type"] == "application/problem+json"
    [error] = problem["errors"]
    assert error["rule"] == rule
    if field_has:
        assert field_has in error["field"]
    assert "root:" not in reply.text
    kept = quarantined(running_hub, problem["quarantine_id"])
    assert (kept.rule, kept.status_code, kept.body_bytes) == (rule, status, len(body))
    sealed = Sealed(kept.key_id, kept.raw_sealed)
    assert running_hub.hub.keyring.open(sealed, f"quarantine:{kept.quarantine_id}") == body


def test_an_oversize_body_gets_413_and_its_head_is_quarantined(running_hub):
    limit = running_hub.hub.settings.max_body_bytes
    body = melanie_agreed() + b"<!--" + b"x" * limit + b"-->"

    reply = submit(running_hub.url, running_hub.caf_token, body)

    assert reply.status_code == 413
    kept = quarantined(running_hub, reply.json()["quarantine_id"])
    assert kept.truncated and kept.rule == "body.max-size"


def test_the_worker_keeps_going_after_bad_input(running_hub):
    for body in (XXE, BILLION_LAUGHS, b"<not-closed>"):
        assert submit(running_hub.url, running_hub.caf_token, body).status_code == 400

    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed("after-bad-input"))

    final = settled(running_hub.url, running_hub.caf_token, reply.json()["tracking_id"])
    assert final["deliveries"][0]["status"] == "delivered"
    with running_hub.database.transaction() as session:
        accepted = session.execute(select(InboxMessage.source_message_id)).scalars().all()
    assert accepted == ["after-bad-input"]
