"""Reading and writing wire documents safely: media types, XML (via ``safe_xml``) and JSON."""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from adapters import safe_xml
from adapters.rejection import InputRejected

XML_MEDIA_TYPES = frozenset({"application/xml", "text/xml"})
JSON_MEDIA_TYPES = frozenset({"application/json"})


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def format_of(content_type: str) -> str | None:
    kind = media_type(content_type)
    if kind in XML_MEDIA_TYPES or kind.endswith("+xml"):
        return "xml"
    if kind in JSON_MEDIA_TYPES or kind.endswith("+json"):
        return "json"
    return None


def parse(body: bytes, content_type: str) -> Any:
    wire_format = format_of(content_type)
    if wire_format == "xml":
        return safe_xml.parse(body)
    if wire_format == "json":
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            where = f"line {error.lineno}, column {error.colno}" \
                if isinstance(error, json.JSONDecodeError) else "body"
            raise InputRejected(400, "json.well-formed", f"not well-formed JSON: {error}", where) \
                from None
        if not isinstance(document, dict):
            raise InputRejected(422, "json.object", "a message is a JSON object", "/")
        return document
    raise InputRejected(415, "content-type", f"{content_type or 'no content type'} is not "
                        "a message format the hub reads (XML or JSON)", "Content-Type")


def serialise(document: Any, wire_format: str) -> tuple[bytes, str]:
    if wire_format == "xml":
        return etree.tostring(document, xml_declaration=True, encoding="UTF-8"), "application/xml"
    return json.dumps(document, separators=(",", ":")).encode(), "application/json"
