"""Safe XML parsing and the CAF system inbound adapter: good messages in, bad ones refused."""

from __future__ import annotations

import contextlib
import re
import time
from datetime import date

import pytest

from adapters import safe_xml
from adapters.mapped import MappedAdapter
from adapters.rejection import InputRejected
from hub.canonical import Purpose
from hub.canonical.people import Gender
from mappings.registry import MappingRegistry
from simulators.hannah import melanie_agreed

XML = "application/xml"
XXE = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
    b"<x>&e;</x>"
)


def billion_laughs(encoding: str = "UTF-8") -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f"<!DOCTYPE lolz [{''.join(entities)}]>\n<lolz>&lol9;</lolz>"
    )
    return text.encode(encoding)


ADAPTER = MappedAdapter("caf_system", MappingRegistry())


def receive(body: bytes, content_type: str = XML):
    return ADAPTER.read(ADAPTER.identify(body, content_type, "standard"), "caf-national")


def rejection(body: bytes, content_type: str = XML) -> InputRejected:
    with pytest.raises(InputRejected) as caught:
        receive(body, content_type)
    return caught.value


def assert_nothing_of_passwd(error: InputRejected) -> None:
    for text in (error.detail, error.field or "", str(error)):
        assert "root:" not in text
        assert "/bin/" not in text


# --- valid messages -----------------------------------------------------------------------


def test_valid_message_is_received_as_lead_professional_changed():
    received = receive(melanie_agreed(message_id="caf-msg-0042", version=3))
    assert received.message_type == "lead-professional-changed"
    assert received.message_version == "1"
    assert received.source_message_id == "caf-msg-0042"
    assert received.purpose is Purpose.DIRECTORY_UPDATE
    assert received.occurred_at.tzinfo is not None


def test_valid_message_carries_the_child_episode_and_version():
    event = receive(melanie_agreed(version=5)).event
    assert (event.child.name.given, event.child.name.family) == ("Hannah", "Example")
    assert event.child.date_of_birth == date(2011, 3, 14)
    assert event.child.gender is Gender.FEMALE
    assert event.child.identifiers.nhs_number == "9434765919"
    assert event.child.identifiers.caf_child_id == "CAF-C-0042"
    assert event.episode_id == "EP-2031"
    assert event.episode_version == 5


def test_valid_message_carries_the_lead_professional_and_contact():
    lead = receive(melanie_agreed()).event.lead_professional
    assert lead.practitioner_id == "P-MEL-01"
    assert (lead.name.given, lead.name.family) == ("Melanie", "Mentor")
    assert lead.agency == "Northfield School"
    assert lead.contact is not None
    assert lead.contact.email == "melanie@northfield.example"


def test_content_type_with_charset_is_accepted():
    assert receive(melanie_agreed(), "application/xml; charset=utf-8").event.episode_id == "EP-2031"


# --- refused before parsing ---------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_non_xml_content_type_is_refused_with_415(content_type: str):
    error = rejection(melanie_agreed(), content_type)
    assert error.status == 415
    assert error.field == "Content-Type"


# --- not well-formed ----------------------------------------------------------------------


def test_malformed_xml_is_refused_with_400_naming_line_and_column():
    error = rejection(b"<?xml version='1.0'?>\n<a>\n  <b></a>\n")
    assert error.status == 400
    assert error.rule == "xml.well-formed"
    assert error.field == "line 3, column 10"


def test_truncated_message_is_refused_as_not_well_formed():
    body = melanie_agreed()
    error = rejection(body[: len(body) // 2])
    assert (error.status, error.rule) == (400, "xml.well-formed")
    assert re.fullmatch(r"line \d+, column \d+", error.field)


def test_empty_body_is_refused_as_not_well_formed():
    error = rejection(b"")
    assert (error.status, error.rule) == (400, "xml.well-formed")


# --- DTDs and entities --------------------------------------------------------------------


def test_external_entity_is_refused_without_reading_the_file():
    error = rejection(XXE)
    assert error.status == 400
    assert error.rule == "xml.no-dtd-or-entities"
    assert_nothing_of_passwd(error)


def test_external_entity_in_utf16_is_refused_without_reading_the_file():
    body = XXE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    with pytest.raises(InputRejected) as caught:
        safe_xml.parse(body)
    assert caught.value.status == 400
    assert_nothing_of_passwd(caught.value)


def test_external_entity_inside_a_caf_message_is_refused():
    body = melanie_agreed().replace(
        b"<leadProfessionalChanged",
        b'<!DOCTYPE leadProfessionalChanged [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<leadProfessionalChanged",
    ).replace(b"<given>Hannah</given>", b"<given>&e;</given>")
    error = rejection(body)
    assert (error.status, error.rule) == (400, "xml.no-dtd-or-entities")
    assert_nothing_of_passwd(error)


def test_internal_dtd_without_entities_is_refused():
    error = rejection(b'<!DOCTYPE x [<!ELEMENT x ANY>]><x/>')
    assert (error.status, error.rule) == (400, "xml.no-dtd-or-entities")


def test_billion_laughs_is_refused_quickly():
    started = time.monotonic()
    error = rejection(billion_laughs())
    elapsed = time.monotonic() - started
    assert (error.status, error.rule) == (400, "xml.no-dtd-or-entities")
    assert elapsed < 1.0


def test_billion_laughs_in_utf16_is_refused_quickly():
    started = time.monotonic()
    with pytest.raises(InputRejected) as caught:
        safe_xml.parse(billion_laughs("UTF-16"))
    assert caught.value.status == 400
    assert time.monotonic() - started < 1.0


# --- message type -------------------------------------------------------------------------


def test_unknown_root_element_is_refused_with_422():
    error = rejection(b'<caseNote xmlns="urn:childrens-hub:caf:1" version="1"/>')
    assert error.status == 422
    assert error.rule == "message-type.known"
    assert error.field == "/caseNote"


def test_known_root_in_another_namespace_is_refused_with_422():
    body = melanie_agreed().replace(b"urn:childrens-hub:caf:1", b"urn:example:other")
    error = rejection(body)
    assert (error.status, error.rule) == (422, "message-type.known")


# --- schema -------------------------------------------------------------------------------


def test_gender_outside_the_census_codes_is_refused_by_the_schema():
    body = melanie_agreed().replace(b"<gender>2</gender>", b"<gender>7</gender>")
    error = rejection(body)
    assert error.status == 422
    assert error.rule.startswith("xml.schema")
    assert re.fullmatch(r"/leadProfessionalChanged/child/gender \(line \d+\)", error.field)
    assert "'7'" in error.detail


def test_missing_date_of_birth_is_refused_by_the_schema():
    body = melanie_agreed()
    stripped = body.replace(b"<dateOfBirth>2011-03-14</dateOfBirth>", b"")
    assert stripped != body
    error = rejection(stripped)
    assert error.status == 422
    assert error.rule.startswith("xml.schema")
    # the schema stops at the element found where dateOfBirth was expected
    assert error.field.startswith("/leadProfessionalChanged/child/gender")
    assert "dateOfBirth" in error.detail


def test_episode_version_zero_is_refused_by_the_schema():
    body = melanie_agreed().replace(b'version="3"', b'version="0"')
    error = rejection(body)
    assert error.status == 422
    assert error.rule.startswith("xml.schema")


def test_sent_at_without_time_zone_is_refused():
    body = re.sub(rb'sentAt="[^"]+"', b'sentAt="2024-05-01T10:00:00"', melanie_agreed())
    error = rejection(body)
    assert (error.status, error.rule) == (422, "datetime.timezone")
    assert error.field.endswith("/header/@sentAt")


# --- known defects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        (rb"<dateOfBirth>[^<]*</dateOfBirth>", b"<dateOfBirth>2011-03-14Z</dateOfBirth>"),
        (rb"<agreedAt>[^<]*</agreedAt>", b"<agreedAt>2024-05-01T24:00:00Z</agreedAt>"),
        (rb'sentAt="[^"]+"', b'sentAt="2024-05-01T24:00:00Z"'),
    ],
    ids=["zoned-date-of-birth", "agreed-at-24h", "sent-at-24h"],
)
def test_schema_valid_dates_are_read_or_refused_as_input_rejected(pattern, replacement):
    body = re.sub(pattern, replacement, melanie_agreed())
    with contextlib.suppress(InputRejected):
        receive(body)


def test_upper_case_xml_content_type_is_accepted():
    assert receive(melanie_agreed(), "Application/XML").event.episode_id == "EP-2031"
