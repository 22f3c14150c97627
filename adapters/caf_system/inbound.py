"""Reads CAF system XML messages (``urn:childrens-hub:caf:1``) into canonical events."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from lxml import etree

from adapters import safe_xml
from adapters.base import Identified, InboundAdapter, Received
from adapters.identifiers import check_nhs_number, check_upn
from adapters.rejection import InputRejected
from hub.canonical import LeadProfessionalChanged, Purpose
from hub.canonical.people import Child, ChildIdentifiers, ContactDetails, Gender, PersonName, Practitioner

NS = "urn:childrens-hub:caf:1"
SCHEMA = Path(__file__).parent / "schemas" / "caf-messages-1.xsd"
ROOTS = {"leadProfessionalChanged": "lead-professional-changed"}


XML_MEDIA_TYPES = frozenset({"application/xml", "text/xml"})


def is_xml(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in XML_MEDIA_TYPES or media_type.endswith("+xml")


class _Reader:
    """Namespaced look-ups on one validated element, which know their own path for errors."""

    def __init__(self, element: etree._Element, path: str):
        self.element = element
        self.path = path

    def child(self, name: str) -> _Reader:
        return _Reader(self.element.find(f"{{{NS}}}{name}"), f"{self.path}/{name}")

    def text(self, name: str) -> str | None:
        found = self.element.find(f"{{{NS}}}{name}")
        return found.text.strip() if found is not None and found.text else None

    def attr(self, name: str) -> str | None:
        return self.element.get(name)

    def date(self, name: str) -> date:
        value = self.text(name) or ""
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InputRejected(
                422, "date.calendar-date", f"{value!r} is not a plain calendar date (YYYY-MM-DD)",
                f"{self.path}/{name}",
            ) from None

    def moment(self, value: str | None, field: str) -> datetime:
        """A date and time that says its time zone: a timestamp without one is ambiguous."""
        try:
            parsed = datetime.fromisoformat(value or "")
        except ValueError:
            raise InputRejected(
                422, "datetime.iso-8601", f"{value!r} is not an ISO 8601 date and time",
                f"{self.path}/{field}",
            ) from None
        if parsed.tzinfo is None:
            raise InputRejected(
                422, "datetime.timezone", f"{field} must carry a time zone", f"{self.path}/{field}"
            )
        return parsed


def _name(reader: _Reader) -> PersonName:
    return PersonName(given=reader.text("given") or "", family=reader.text("family") or "")


def _child(reader: _Reader) -> Child:
    check_nhs_number(reader.text("nhsNumber"), f"{reader.path}/nhsNumber")
    check_upn(reader.text("upn"), f"{reader.path}/upn")
    return Child(
        identifiers=ChildIdentifiers(
            caf_child_id=reader.text("cafChildId"), nhs_number=reader.text("nhsNumber"),
            upn=reader.text("upn"), directory_id=reader.text("directoryId"),
        ),
        name=_name(reader.child("name")),
        date_of_birth=reader.date("dateOfBirth"),
        gender=Gender(reader.text("gender")),
    )


def _practitioner(reader: _Reader) -> Practitioner:
    phone, email = reader.text("phone"), reader.text("email")
    return Practitioner(
        practitioner_id=reader.text("practitionerId") or "", name=_name(reader.child("name")),
        role=reader.text("role"), agency=reader.text("agency"),
        contact=ContactDetails(phone=phone, email=email) if phone or email else None,
    )


class CafSystemInbound(InboundAdapter):
    kind = "caf_system"
    accepts = frozenset(ROOTS.values())

    def identify(self, body: bytes, content_type: str) -> Identified:
        if not is_xml(content_type):
            raise InputRejected(415, "content-type", "CAF system messages are XML", "Content-Type")
        root = safe_xml.parse(body)
        qname = etree.QName(root)
        if qname.namespace != NS or qname.localname not in ROOTS:
            raise InputRejected(
                422, "message-type.known", f"unknown CAF message {qname.localname!r}",
                field=f"/{qname.localname}",
            )
        return Identified(message_type=ROOTS[qname.localname], document=root)

    def read(self, identified: Identified) -> Received:
        root = identified.document
        safe_xml.validate(root, SCHEMA)
        message = _Reader(root, f"/{etree.QName(root).localname}")
        header = message.child("header")
        episode = message.child("episode")
        sent_at = header.moment(header.attr("sentAt"), "@sentAt")
        event = LeadProfessionalChanged(
            child=_child(message.child("child")),
            episode_id=episode.attr("id") or "",
            episode_version=int(episode.attr("version") or 0),
            lead_professional=_practitioner(message.child("leadProfessional")),
            agreed_at=message.moment(message.text("agreedAt"), "agreedAt"),
        )
        return Received(
            message_type=identified.message_type, message_version=root.get("version", "1"),
            source_message_id=header.attr("messageId") or "",
            correlation_id=header.attr("correlationId"), occurred_at=sent_at,
            purpose=Purpose.DIRECTORY_UPDATE, event=event,
        )
