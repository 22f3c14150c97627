"""The mapping engine: parse a wire document into canonical data, render canonical data to one.

Both directions run the same rules. Parsing records, for every canonical field, the wire path
and rule it came from; rendering records, for every wire field, the rule and canonical field it
came from and, where known, where that canonical field came from in turn. A rule whose canonical
field is absent (withheld by the sharing decision, or never sent) is reported as skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from hub.canonical import FieldSource as Provenance
from mappings import paths
from mappings.codecs import Found, JsonCodec, XmlCodec
from mappings.paths import MISSING
from mappings.spec import CodeList, Condition, MappingSpec, Rule
from mappings.transforms import TransformError, transform


class MappingError(ValueError):
    """A document or a value the mapping cannot translate; names the rule and the field."""

    def __init__(self, rule_id: str, where: str, problem: str):
        super().__init__(f"rule {rule_id} at {where}: {problem}")
        self.rule_id = rule_id
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class RenderedField:
    """One field of a rendered document, and the rule and canonical field that produced it."""

    wire_path: str
    canonical_path: str | None
    rule_id: str
    spec_id: str
    mapping_version: str
    origin: Provenance | None = None

    def to_dict(self) -> dict[str, Any]:
        """As stored and shown: names and paths only, never the value."""
        return {
            "wire_path": self.wire_path, "canonical_path": self.canonical_path,
            "rule_id": self.rule_id, "spec_id": self.spec_id,
            "mapping_version": self.mapping_version,
            "origin": asdict(self.origin) if self.origin else None,
        }


@dataclass(frozen=True)
class Skipped:
    rule_id: str
    canonical_path: str
    reason: str


@dataclass
class Parsed:
    data: dict[str, Any]
    header: dict[str, str]
    provenance: dict[str, Provenance] = field(default_factory=dict)
    header_paths: dict[str, str] = field(default_factory=dict)


@dataclass
class Rendered:
    document: Any
    fields: list[RenderedField] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class EffectiveSpec:
    """A spec with the authority's override merged in and its code lists resolved."""

    spec: MappingSpec
    code_lists: dict[str, CodeList]
    version: str
    layers: tuple[str, ...]

    @cached_property
    def codec(self) -> XmlCodec | JsonCodec:
        return XmlCodec(self.spec.namespaces) if self.spec.format == "xml" else JsonCodec()

    @cached_property
    def inverse_code_lists(self) -> dict[str, dict[str, str]]:
        return {key: {wire: code for code, wire in code_list.entries.items()}
                for key, code_list in self.code_lists.items()}


def parse(effective: EffectiveSpec, document: Any, system: str | None = None) -> Parsed:
    codec = effective.codec
    result = Parsed(data={}, header={})
    for name in ("message_id", "sent_at", "correlation_id", "version"):
        path = getattr(effective.spec.header, name)
        found = codec.read(document, path) if path else None
        if found is not None:
            result.header[name] = str(found.value)
            result.header_paths[name] = found.where
    _parse(effective, codec.reader(document), effective.spec.rules, document, result.data, "",
           result, system)
    return result


def _parse(effective: EffectiveSpec, codec, rules: list[Rule], context: Any, out: dict[str, Any],  # type: ignore[no-untyped-def]
           prefix: str, result: Parsed, system: str | None, base: str = "") -> None:
    for rule in rules:
        if rule.direction == "outbound":
            continue
        if rule.each is not None:
            gathered = paths.get(out, rule.canonical)
            items = [] if gathered is MISSING else list(gathered)
            for located in codec.items(context, rule.wire, base):
                node, node_where = located.value, located.where
                index = len(items)
                item: dict[str, Any] = {}
                item_prefix = f"{prefix}{rule.canonical}[{index}]."
                _parse(effective, codec, rule.each, node, item, item_prefix, result, system,
                       node_where)
                if rule.select is not None and rule.select.equals is not None \
                        and paths.get(item, rule.select.canonical) is MISSING:
                    paths.put(item, rule.select.canonical, rule.select.equals)
                    result.provenance[f"{item_prefix}{rule.select.canonical}"] = Provenance(
                        system=system, wire_path=node_where,
                        rule_id=rule.id, spec_id=effective.spec.id, mapping_version=effective.version,
                    )
                items.append(item)
            if items:
                paths.put(out, rule.canonical, items)
            continue
        if rule.repeated:
            every = codec.read_all(context, rule.wire, base)
            if not every and rule.required:
                raise MappingError(rule.id, rule.wire, "required but missing")
            if not every or (rule.when is not None and not _holds(rule.when, out)):
                continue
            paths.put(out, rule.canonical, [_to_canonical(effective, rule, f) for f in every])
            for index, found in enumerate(every):
                result.provenance[f"{prefix}{rule.canonical}[{index}]"] = Provenance(
                    system=system, wire_path=found.where, rule_id=rule.id,
                    spec_id=effective.spec.id, mapping_version=effective.version,
                )
            continue
        found = codec.read(context, rule.wire, base)
        if found is None:
            if rule.default is None:
                if rule.required:
                    raise MappingError(rule.id, rule.wire, "required but missing")
                continue
            found = Found(rule.default, "(default)")
        if rule.when is not None and not _holds(rule.when, out):
            continue
        value = _to_canonical(effective, rule, found)
        targets = rule.canonical_paths()
        values = value if len(targets) > 1 else [value]
        for target, item_value in zip(targets, values, strict=True):
            if item_value in ("", None):
                continue
            paths.put(out, target, item_value)
            result.provenance[f"{prefix}{target}"] = Provenance(
                system=system, wire_path=found.where, rule_id=rule.id,
                spec_id=effective.spec.id, mapping_version=effective.version,
            )


def _to_canonical(effective: EffectiveSpec, rule: Rule, found: Found) -> Any:
    value = found.value
    if rule.code_list:
        inverse = effective.inverse_code_lists[rule.code_list]
        if str(value) not in inverse:
            raise MappingError(rule.id, found.where,
                               f"{value!r} is not a code of {rule.code_list}")
        value = inverse[str(value)]
    if rule.transform:
        try:
            value = transform(rule.transform).to_canonical(value, rule.options)
        except TransformError as error:
            raise MappingError(rule.id, found.where, str(error)) from None
    return value


def render(
    effective: EffectiveSpec, data: dict[str, Any], header: dict[str, str],
    origin: dict[str, Provenance] | None = None,
) -> Rendered:
    spec, codec = effective.spec, effective.codec
    document = codec.new_document(spec.root) if spec.format == "xml" else codec.new_document()
    result = Rendered(document=document)
    for name, value in header.items():
        path = getattr(spec.header, name)
        if path and value is not None:
            codec.write(document, path, value)
    _render(effective, codec, spec.rules, data, document, "", result, origin or {})
    return result


def _render(effective: EffectiveSpec, codec, rules: list[Rule], data: dict[str, Any], context: Any,  # type: ignore[no-untyped-def]
            prefix: str, result: Rendered, origin: dict[str, Provenance]) -> None:
    for rule in rules:
        if rule.direction == "inbound":
            continue
        if rule.when is not None and not _holds(rule.when, data):
            continue
        if rule.each is not None:
            items = paths.get(data, rule.canonical)
            if items is MISSING:
                result.skipped.append(Skipped(rule.id, f"{prefix}{rule.canonical}", "no value"))
                continue
            for index, item in enumerate(items):
                if rule.select is not None and not _holds(rule.select, item):
                    continue
                node = codec.new_item(context, rule.wire)
                _render(effective, codec, rule.each, item, node,
                        f"{prefix}{rule.canonical}[{index}].", result, origin)
            continue
        if rule.repeated:
            values = paths.get(data, rule.canonical)
            if values is MISSING:
                if rule.required:
                    raise MappingError(rule.id, rule.wire, f"{rule.canonical} is required")
                result.skipped.append(Skipped(rule.id, f"{prefix}{rule.canonical}", "no value"))
                continue
            for index, value in enumerate(values):
                where = codec.append(context, rule.wire, _to_wire(effective, rule, value))
                path = f"{prefix}{rule.canonical}[{index}]"
                result.fields.append(RenderedField(
                    where, path, rule.id, effective.spec.id, effective.version, origin.get(path),
                ))
            continue
        canonical = rule.canonical_paths()
        values = [paths.get(data, path) for path in canonical]
        if all(value is MISSING for value in values):
            if rule.default is None:
                if rule.required:
                    raise MappingError(rule.id, rule.wire, f"{', '.join(canonical)} is required")
                for path in canonical:
                    result.skipped.append(Skipped(rule.id, f"{prefix}{path}", "no value"))
                continue
            value: Any = rule.default
        else:
            value = values if len(values) > 1 else values[0]
        wire_value = _to_wire(effective, rule, value)
        where = codec.write(context, rule.wire, wire_value)
        first = f"{prefix}{canonical[0]}" if canonical else None
        result.fields.append(RenderedField(
            where, first, rule.id, effective.spec.id, effective.version,
            origin.get(first) if first else None,
        ))


def _to_wire(effective: EffectiveSpec, rule: Rule, value: Any) -> Any:
    if isinstance(value, list) and rule.transform != "join":
        raise MappingError(rule.id, rule.wire, "a list needs a repeated element (each)")
    if isinstance(value, list):
        value = ["" if v is MISSING else v for v in value]
    try:
        if rule.transform:
            value = transform(rule.transform).to_wire(value, rule.options)
    except TransformError as error:
        raise MappingError(rule.id, rule.wire, str(error)) from None
    if rule.code_list:
        entries = effective.code_lists[rule.code_list].entries
        if str(value) not in entries:
            raise MappingError(rule.id, rule.wire, f"{value!r} has no code in {rule.code_list}")
        value = entries[str(value)]
    return value


def _holds(condition: Condition, data: dict[str, Any]) -> bool:
    value = paths.get(data, condition.canonical)
    if condition.present is not None and (value is not MISSING) != condition.present:
        return False
    if condition.equals is not None and (value is MISSING or str(value) != str(condition.equals)):
        return False
    return not (condition.not_equals is not None and value is not MISSING
                and str(value) == str(condition.not_equals))
