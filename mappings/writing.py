"""Writing plans: a spec's outbound rules compiled once into steps that render canonical data as
a wire document, recording for every wire field the rule and canonical field behind it.

As with reading plans, everything that does not depend on the message is done once per spec
version: write paths split into steps with their qualified names and predicates, code lists and
transforms bound, canonical paths split, conditions made into tests. XML documents are built by
an ``_XmlWriter`` that knows every element it made, so finding a parent is a dictionary look-up
and each element's path is made once, from its parent's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from hub.canonical import FieldSource as Provenance
from mappings import paths
from mappings.codecs import _XML_PREDICATE, _XML_STEP, JsonCodec, PathError, XmlCodec, split_steps
from mappings.paths import MISSING
from mappings.reading import HEADER_FIELDS, compile_condition
from mappings.results import MappingError, Rendered, RenderedField, Skipped
from mappings.spec import Rule
from mappings.transforms import TransformError, transform

if TYPE_CHECKING:
    from mappings.engine import EffectiveSpec


@dataclass(frozen=True, slots=True)
class _XmlStep:
    """One element step of a write path: its tag, the attributes its predicates fix."""

    tag: str
    local: str
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _XmlTarget:
    """A write path: the element steps to the parent, then the text (``.``), an attribute or a
    leaf element."""

    parents: tuple[_XmlStep, ...]
    attribute: str | None = None
    attribute_local: str | None = None
    leaf: _XmlStep | None = None


class _XmlWriter:
    """Builds one XML document. Only it adds elements, so it can remember them: the children of
    each element by tag, and each element's path (``/episode/tacMembers/member[2]``), with a
    position where a tag repeats, as ``codecs.describe`` gives it when the element is made."""

    __slots__ = ("root", "children", "where")

    def __init__(self, root: etree._Element):
        self.root = root
        self.children: dict[tuple[etree._Element, str], list[etree._Element]] = {}
        self.where: dict[etree._Element, str] = {root: f"/{etree.QName(root).localname}"}

    def child(self, node: etree._Element, step: _XmlStep, create_new: bool) -> etree._Element:
        siblings = self.children.get((node, step.tag))
        if siblings is None:
            siblings = self.children[(node, step.tag)] = []
        elif not create_new:
            if not step.attributes:
                return siblings[0]
            for sibling in siblings:
                if all(sibling.get(name) == value for name, value in step.attributes):
                    return sibling
        element = etree.SubElement(node, step.tag, dict(step.attributes) if step.attributes else None)
        siblings.append(element)
        position = f"[{len(siblings)}]" if len(siblings) > 1 else ""
        self.where[element] = f"{self.where[node]}/{step.local}{position}"
        return element

    def write(self, context: etree._Element, target: _XmlTarget, text: str) -> str:
        node = context
        for step in target.parents:
            node = self.child(node, step, create_new=False)
        if target.attribute is not None:
            node.set(target.attribute, text)
            return f"{self.where[node]}/@{target.attribute_local}"
        if target.leaf is not None:
            node = self.child(node, target.leaf, create_new=False)
        node.text = text
        return self.where[node]

    def new_item(self, context: etree._Element, target: _XmlTarget) -> etree._Element:
        node = context
        for step in target.parents:
            node = self.child(node, step, create_new=False)
        return node if target.leaf is None else self.child(node, target.leaf, create_new=True)

    def append(self, context: etree._Element, target: _XmlTarget, text: str) -> str:
        leaf = self.new_item(context, target)
        leaf.text = text
        return self.where[leaf]


class _JsonWriter:
    """The JSON codec behind the same interface (JSON paths carry their own positions)."""

    __slots__ = ("codec",)

    def __init__(self, codec: JsonCodec):
        self.codec = codec

    def write(self, context: Any, target: str, value: Any) -> str:
        return self.codec.write(context, target, value)

    def new_item(self, context: Any, target: str) -> Any:
        return self.codec.new_item(context, target)

    def append(self, context: Any, target: str, value: Any) -> str:
        return self.codec.append(context, target, value)


class _Run:
    """One render in progress: the writer, the fields and skips recorded, the data's origins."""

    __slots__ = ("writer", "fields", "skipped", "origin")

    def __init__(self, writer: Any, result: Rendered, origin: dict[str, Provenance]):
        self.writer, self.fields, self.skipped, self.origin = \
            writer, result.fields, result.skipped, origin


# (run, context element or object, canonical data of this level, prefix of its canonical paths)
Step = Callable[[_Run, Any, dict[str, Any], str], None]


class WritingPlan:
    """Render canonical data for one effective spec: ``plan.render(data, header, origin)``."""

    def __init__(self, effective: EffectiveSpec):
        self.effective = effective
        codec = effective.codec
        self.xml = isinstance(codec, XmlCodec)
        header = effective.spec.header
        self._header = {name: self._target(path) for name in HEADER_FIELDS
                        if (path := getattr(header, name))}
        self._steps = self._compile(effective.spec.rules)

    def render(self, data: dict[str, Any], header: dict[str, str],
               origin: dict[str, Provenance] | None = None) -> Rendered:
        spec, codec = self.effective.spec, self.effective.codec
        if isinstance(codec, XmlCodec):
            document = codec.new_document(spec.root or "")
            writer: Any = _XmlWriter(document)
            text: Callable[[Any], Any] = _text
        else:
            document = codec.new_document()
            writer, text = _JsonWriter(codec), _same
        result = Rendered(document=document)
        for name, value in header.items():
            target = self._header.get(name)
            if target is not None and value is not None:
                writer.write(document, target, text(value))
        run = _Run(writer, result, origin or {})
        for step in self._steps:
            step(run, document, data, "")
        return result

    # -- compiling ---------------------------------------------------------------------------

    def _target(self, path: str) -> _XmlTarget | str:
        if not self.xml:
            return path
        codec = self.effective.codec
        assert isinstance(codec, XmlCodec)
        *parents, last = split_steps(path, "/")
        compiled = tuple(self._xml_step(codec, step, path) for step in parents if step != ".")
        if last == ".":
            return _XmlTarget(compiled)
        match = _XML_STEP.match(last)
        if match is None:
            raise PathError(f"cannot write to {path!r}")
        if match["attr"]:
            return _XmlTarget(compiled, codec.root_name(last[1:]), match["name"])
        return _XmlTarget(compiled, leaf=self._xml_step(codec, last, path))

    @staticmethod
    def _xml_step(codec: XmlCodec, step: str, path: str) -> _XmlStep:
        match = _XML_STEP.match(step)
        if match is None or match["attr"]:
            raise PathError(f"cannot build the step {step!r} of {path!r}")
        name = f"{match['prefix']}:{match['name']}" if match["prefix"] else match["name"]
        return _XmlStep(codec.root_name(name), match["name"],
                        tuple(_XML_PREDICATE.findall(match["predicates"] or "")))

    def _compile(self, rules: list[Rule]) -> list[Step]:
        steps = []
        for rule in rules:
            if rule.direction == "inbound":
                continue
            step = self._each(rule) if rule.each is not None else \
                self._repeated(rule) if rule.repeated else self._field(rule)
            steps.append(_guarded(rule, step) if rule.when is not None else step)
        return steps

    def _field(self, rule: Rule) -> Step:
        target, wire, rule_id = self._target(rule.wire), rule.wire, rule.id
        spec_id, version = self.effective.spec.id, self.effective.version
        canonical = rule.canonical_paths()
        getters = [paths.getter(path) for path in canonical]
        first = canonical[0] if canonical else None
        required, default = rule.required, rule.default
        to_wire = self._converter(rule)

        if len(getters) == 1:
            return self._single_field(rule, target, getters[0], to_wire)

        def step(run: _Run, context: Any, data: dict[str, Any], prefix: str) -> None:
            values = [get(data) for get in getters]
            if all(value is MISSING for value in values):
                if default is None:
                    if required:
                        raise MappingError(rule_id, wire, f"{', '.join(canonical)} is required")
                    run.skipped.extend(Skipped(rule_id, f"{prefix}{path}", "no value")
                                       for path in canonical)
                    return
                value: Any = default
            else:
                value = values if len(values) > 1 else values[0]
            where = run.writer.write(context, target, to_wire(value))
            path = f"{prefix}{first}" if first is not None else None
            run.fields.append(RenderedField(
                where, path, rule_id, spec_id, version,
                run.origin.get(path) if path is not None else None,
            ))
        return step

    def _single_field(self, rule: Rule, target: Any, get: Callable[[Any], Any],
                      to_wire: Callable[[Any], Any]) -> Step:
        """``_field`` for the usual rule: one canonical field to one wire field."""
        wire, rule_id, canonical = rule.wire, rule.id, rule.canonical_paths()[0]
        spec_id, version, required, default = \
            self.effective.spec.id, self.effective.version, rule.required, rule.default

        def step(run: _Run, context: Any, data: dict[str, Any], prefix: str) -> None:
            value = get(data)
            if value is MISSING:
                if default is None:
                    if required:
                        raise MappingError(rule_id, wire, f"{canonical} is required")
                    run.skipped.append(Skipped(rule_id, prefix + canonical, "no value"))
                    return
                value = default
            path = prefix + canonical
            run.fields.append(RenderedField(
                run.writer.write(context, target, to_wire(value)), path, rule_id, spec_id, version,
                run.origin.get(path),
            ))
        return step

    def _repeated(self, rule: Rule) -> Step:
        target, wire, rule_id, canonical = self._target(rule.wire), rule.wire, rule.id, rule.canonical
        spec_id, version = self.effective.spec.id, self.effective.version
        get, required, to_wire = paths.getter(str(canonical)), rule.required, self._converter(rule)

        def step(run: _Run, context: Any, data: dict[str, Any], prefix: str) -> None:
            values = get(data)
            if values is MISSING:
                if required:
                    raise MappingError(rule_id, wire, f"{canonical} is required")
                run.skipped.append(Skipped(rule_id, f"{prefix}{canonical}", "no value"))
                return
            for index, value in enumerate(values):
                where = run.writer.append(context, target, to_wire(value))
                path = f"{prefix}{canonical}[{index}]"
                run.fields.append(RenderedField(where, path, rule_id, spec_id, version,
                                                run.origin.get(path)))
        return step

    def _each(self, rule: Rule) -> Step:
        target, rule_id, canonical = self._target(rule.wire), rule.id, rule.canonical
        assert rule.each is not None
        get = paths.getter(str(canonical))
        nested = self._compile(rule.each)
        select = compile_condition(rule.select) if rule.select is not None else None

        def step(run: _Run, context: Any, data: dict[str, Any], prefix: str) -> None:
            items = get(data)
            if items is MISSING:
                run.skipped.append(Skipped(rule_id, f"{prefix}{canonical}", "no value"))
                return
            for index, item in enumerate(items):
                if select is not None and not select(item):
                    continue
                node = run.writer.new_item(context, target)
                item_prefix = f"{prefix}{canonical}[{index}]."
                for inner in nested:
                    inner(run, node, item, item_prefix)
        return step

    def _converter(self, rule: Rule) -> Callable[[Any], Any]:
        """Canonical value to wire: the transform, then the code list, then text for XML."""
        rule_id, wire, options, code_list = rule.id, rule.wire, rule.options, rule.code_list
        joins = rule.transform == "join"
        to_wire = transform(rule.transform).to_wire if rule.transform else None
        entries = self.effective.code_lists[code_list].entries if code_list else None
        text = _text if self.xml else _same

        def convert(value: Any) -> Any:
            if isinstance(value, list):
                if not joins:
                    raise MappingError(rule_id, wire, "a list needs a repeated element (each)")
                value = ["" if v is MISSING else v for v in value]
            if to_wire is not None:
                try:
                    value = to_wire(value, options)
                except TransformError as error:
                    raise MappingError(rule_id, wire, str(error)) from None
            if entries is not None:
                code = entries.get(str(value))
                if code is None:
                    raise MappingError(rule_id, wire, f"{value!r} has no code in {code_list}")
                value = code
            return text(value)
        return convert


def _guarded(rule: Rule, step: Step) -> Step:
    """A rule with ``when`` runs only where its condition holds of the data at its level."""
    assert rule.when is not None
    holds = compile_condition(rule.when)

    def guarded(run: _Run, context: Any, data: dict[str, Any], prefix: str) -> None:
        if holds(data):
            step(run, context, data, prefix)
    return guarded


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same(value: Any) -> Any:
    return value
