"""The mapped adapter: one per kind of system, driven entirely by that kind's mapping specs.

Inbound: parse safely, recognise the message from the system's profile, validate against the
format's schema, map to canonical data with provenance, check national identifiers, and validate
the canonical event. Outbound: map the minimised canonical data to the system's format and check
the result against the same schema before it leaves. Every refusal names the field and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree
from pydantic import ValidationError

from adapters import safe_xml, wire
from adapters.base import Identified, Received, Rendered
from adapters.identifiers import check_nhs_number, check_upn
from adapters.rejection import InputRejected
from hub.canonical import FieldSource
from hub.canonical.events import EVENT_TYPES
from mappings import engine
from mappings.engine import EffectiveSpec, MappingError
from mappings.registry import MappingRegistry

ADAPTERS_DIR = Path(__file__).parent

Validator = Callable[[EffectiveSpec, Any], None]


class MappedAdapter:
    def __init__(self, kind: str, mappings: MappingRegistry, extra_checks: tuple[Validator, ...] = ()):
        self.kind = kind
        self.mappings = mappings
        self.schema_dir = ADAPTERS_DIR / kind / "schemas"
        self.extra_checks = extra_checks

    def sends(self, profile: str) -> set[str]:
        """The message types a system of this kind and profile can send to the hub."""
        return {s.spec.message_type for s in self.mappings.for_system(self.kind, profile)
                if s.spec.direction in ("inbound", "both")}

    def identify(self, body: bytes, content_type: str, profile: str) -> Identified:
        formats = {s.spec.format for s in self.mappings.for_system(self.kind, profile)}
        if wire.format_of(content_type) not in formats:
            raise InputRejected(
                415, "content-type", f"a {self.kind} ({profile} profile) sends "
                f"{' or '.join(sorted(f.upper() for f in formats)) or 'nothing'}", "Content-Type",
            )
        document = wire.parse(body, content_type)
        effective = self.mappings.identify(self.kind, profile, document)
        if effective is None:
            root = f"/{etree.QName(document).localname}" if hasattr(document, "tag") else "/"
            raise InputRejected(
                422, "message-type.known",
                f"not a message a {self.kind} ({profile} profile) is known to send", root,
            )
        return Identified(effective.spec.message_type, document, effective)

    def read(self, identified: Identified, system_id: str) -> Received:
        effective = identified.spec
        self.check_schema(effective, identified.document)
        try:
            parsed = engine.parse(effective, identified.document, system_id)
        except MappingError as error:
            raise InputRejected(422, f"mapping.{error.rule_id}", error.problem, error.where) from None
        _check_identifiers(parsed.data, parsed.provenance)
        event_type = EVENT_TYPES[effective.spec.message_type]
        try:
            event = event_type.model_validate(parsed.data)
        except ValidationError as error:
            first = error.errors()[0]
            canonical = ".".join(str(part) for part in first["loc"])
            source = parsed.provenance.get(canonical)
            raise InputRejected(
                422, f"canonical.{first['type']}", f"{canonical}: {first['msg']}",
                source.wire_path if source else canonical,
            ) from None
        sent_at = _sent_at(parsed.header.get("sent_at"),
                           parsed.header_paths.get("sent_at", effective.spec.header.sent_at))
        return Received(
            message_type=effective.spec.message_type,
            message_version=parsed.header.get("version", effective.spec.version),
            source_message_id=parsed.header.get("message_id", ""),
            correlation_id=parsed.header.get("correlation_id"), occurred_at=sent_at,
            purpose=effective.spec.purpose, event=event, provenance=parsed.provenance,
        )

    def check_schema(self, effective: EffectiveSpec, document: Any) -> None:
        schema_file = effective.spec.schema_file
        if schema_file and effective.spec.format == "xml":
            safe_xml.validate(document, self.schema_dir / schema_file)
        elif schema_file:
            _validate_json(document, self.schema_dir / schema_file)
        for check in self.extra_checks:
            check(effective, document)

    def can_render(self, profile: str, message_type: str) -> bool:
        return self.mappings.find(self.kind, profile, message_type) is not None

    def render(
        self, profile: str, message_type: str, shared: dict[str, Any], header: dict[str, str],
        origin: dict[str, FieldSource] | None = None,
    ) -> Rendered:
        effective = self.mappings.find(self.kind, profile, message_type)
        if effective is None:
            raise LookupError(f"no mapping for {message_type} to a {self.kind} ({profile})")
        result = engine.render(effective, shared, header, origin)
        try:
            self.check_schema(effective, result.document)
        except InputRejected as error:
            raise MappingError("schema", error.field or "/", error.detail) from None
        body, content_type = wire.serialise(result.document, effective.spec.format)
        return Rendered(effective.spec.endpoint, body, content_type, result.fields, result.skipped)


def _sent_at(value: str | None, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        raise InputRejected(422, "datetime.iso-8601", f"{value!r} is not a date and time", where) \
            from None
    if moment.tzinfo is None:
        raise InputRejected(422, "datetime.timezone", "the time must carry a time zone", where)
    return moment


def _check_identifiers(data: dict[str, Any], provenance: dict[str, FieldSource]) -> None:
    """NHS numbers and UPNs of the child, wherever the message carries one."""
    identifiers = (data.get("child") or {}).get("identifiers") or {}
    for key, check in (("nhs_number", check_nhs_number), ("upn", check_upn)):
        path = f"child.identifiers.{key}"
        source = provenance.get(path)
        check(identifiers.get(key), source.wire_path if source else path)


def _validate_json(document: Any, schema_path: Path) -> None:
    schema = _json_schema(schema_path)
    errors = sorted(schema.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/" + "/".join(str(p) for p in first.absolute_path)
        raise InputRejected(422, f"json.schema.{first.validator}", first.message, where)


_SCHEMAS: dict[Path, jsonschema.protocols.Validator] = {}


def _json_schema(path: Path) -> jsonschema.protocols.Validator:
    if path not in _SCHEMAS:
        import json

        schema = json.loads(path.read_text())
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        _SCHEMAS[path] = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return _SCHEMAS[path]
