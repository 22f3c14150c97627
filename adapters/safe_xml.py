"""Safe XML parsing and schema validation for every XML-speaking adapter.

The parser never resolves entities, never loads a DTD, never touches the network and refuses
huge trees; a document that declares a DTD at all is refused, which stops XXE and entity
expansion ("billion laughs") before anything is expanded. Errors name the line and the
element path so a sender can fix their message.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from adapters.rejection import InputRejected

RULE_WELL_FORMED = "xml.well-formed"
RULE_NO_DTD = "xml.no-dtd-or-entities"
RULE_SCHEMA = "xml.schema"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_pis=True, collect_ids=False,
    )


_local = threading.local()


def _thread_parser() -> etree.XMLParser:
    """One parser per thread, reused: lxml parsers keep state and are not shared between
    threads, and making one for every message costs a quarter of the parse."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _parser()
    return parser


def parse(body: bytes) -> etree._Element:
    # both declarations start "<!": a body without a "!" has neither (found in one memchr pass,
    # before the two case-folded copies of the body are made)
    if b"!" in body and (b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper()):
        raise InputRejected(400, RULE_NO_DTD, "DTDs and entity declarations are not accepted")
    try:
        root = etree.fromstring(body, parser=_thread_parser())
    except etree.XMLSyntaxError as error:
        line, column = error.position
        raise InputRejected(
            400, RULE_WELL_FORMED, f"not well-formed XML: {error.msg}",
            field=f"line {line}, column {column}",
        ) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise InputRejected(400, RULE_NO_DTD, "DTDs and entity declarations are not accepted")
    return root


_schemas = threading.local()


def load_schema(path: Path) -> etree.XMLSchema:
    """The XSD at ``path``, loaded once per thread (a millisecond or two each): libxml2's
    validators are not safe to share between threads that validate at the same time, and a
    schema's error log belongs to the last validation it ran."""
    loaded: dict[Path, etree.XMLSchema] = _schemas.__dict__.setdefault("loaded", {})
    schema = loaded.get(path)
    if schema is None:
        schema = loaded[path] = etree.XMLSchema(etree.parse(str(path), parser=_parser()))
    return schema


def validate(root: etree._Element, schema_path: Path) -> None:
    """Validate against an XSD; a failure names the element path and the schema's rule."""
    schema = load_schema(schema_path)
    if schema.validate(root):
        return
    error = schema.error_log.filter_from_errors()[0]
    raise InputRejected(
        422, f"{RULE_SCHEMA}.{error.type_name.lower()}", _without_namespaces(error.message),
        field=f"{readable_path(root, error.path)} (line {error.line})",
    )


def readable_path(root: etree._Element, path: str | None) -> str:
    """``/*/*[2]/*[6]`` as a sender would say it: ``/leadProfessionalChanged/child/gender``."""
    if not path:
        return "/"
    try:
        found = root.getroottree().xpath(path)
    except etree.XPathError:
        return path
    if not found or not isinstance(found[0], etree._Element):
        return path
    names = [etree.QName(node).localname for node in (found[0], *found[0].iterancestors())]
    return "/" + "/".join(reversed(names))


def _without_namespaces(message: str) -> str:
    return re.sub(r"\{[^}]*\}", "", message)
