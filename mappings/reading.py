"""Reading plans: a spec's inbound rules compiled once into steps that map a wire document to
canonical data with the provenance of every field.

Compiling does, once per spec version, everything that does not depend on the message: paths
split and namespace-qualified, code lists inverted, transforms bound to their options, canonical
paths split, conditions made into tests, provenance constants fixed. A parse then runs one small
function per rule. What each kind of rule means (a plain field, a repeated value, a repeated
element with ``each``) is described on ``mappings.spec.Rule``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lxml import etree

from hub.canonical import FieldSource as Provenance
from mappings import paths
from mappings.codecs import JsonCodec, Locator, XmlCodec
from mappings.paths import MISSING
from mappings.results import MappingError, Parsed
from mappings.spec import Condition, Rule
from mappings.transforms import TransformError, transform

if TYPE_CHECKING:
    from mappings.engine import EffectiveSpec

HEADER_FIELDS = ("message_id", "sent_at", "correlation_id", "version")
PROVENANCE_KEPT = 1024  # per rule: the places a field was found, across senders


class _Run:
    """One parse in progress: the document's reader, where provenance goes, the sender."""

    __slots__ = ("reader", "provenance", "system")

    def __init__(self, reader: Any, provenance: dict[str, Provenance], system: str | None):
        self.reader, self.provenance, self.system = reader, provenance, system


# (run, context element or object, its path in the document, canonical data so far, prefix)
Step = Callable[[_Run, Any, str, dict[str, Any], str], None]
# (run, value found or None, where it was found, canonical data so far, prefix)
Apply = Callable[[_Run, Any, str, dict[str, Any], str], None]


class _JsonReader:
    """``XmlReader``'s compiled-path interface over a JSON document (paths stay dotted text)."""

    __slots__ = ("codec",)

    def __init__(self, codec: JsonCodec):
        self.codec = codec

    def first(self, context: Any, locator: str, base: str) -> tuple[Any, str] | None:
        found = self.codec.read(context, locator, base)
        return (found.value, found.where) if found is not None else None

    def every(self, context: Any, locator: str, base: str) -> list[tuple[Any, str]]:
        return [(f.value, f.where) for f in self.codec.read_all(context, locator, base)]

    def elements(self, context: Any, locator: str, base: str) -> list[tuple[Any, str]]:
        return [(f.value, f.where) for f in self.codec.items(context, locator, base)]


class ReadingPlan:
    """Parse documents of one effective spec: ``plan.parse(document, system)``."""

    def __init__(self, effective: EffectiveSpec):
        self.effective = effective
        codec = effective.codec
        self._locate: Callable[[str], Locator | str] = (
            codec.locate if isinstance(codec, XmlCodec) else (lambda path: path)
        )
        header = effective.spec.header
        self._header = [(name, self._locate(path)) for name in HEADER_FIELDS
                        if (path := getattr(header, name))]
        self._steps = self._compile(effective.spec.rules)

    def parse(self, document: Any, system: str | None = None) -> Parsed:
        codec = self.effective.codec
        reader = codec.reader(document) if isinstance(codec, XmlCodec) else _JsonReader(codec)
        result = Parsed(data={}, header={})
        for name, locator in self._header:
            found = reader.first(document, locator, "")
            if found is not None:
                result.header[name] = str(found[0])
                result.header_paths[name] = found[1]
        run = _Run(reader, result.provenance, system)
        data = result.data
        for step in self._steps:
            step(run, document, "", data, "")
        return result

    # -- compiling ---------------------------------------------------------------------------

    def _compile(self, rules: list[Rule]) -> list[Step]:
        rules = [rule for rule in rules if rule.direction != "outbound"]
        plain = [rule for rule in rules if self._plain(rule)] if _order_free(rules) else []
        steps = [self._elements(plain)] if plain else []
        batched = {id(rule) for rule in plain}
        return steps + [self._compile_rule(rule) for rule in rules if id(rule) not in batched]

    def _plain(self, rule: Rule) -> bool:
        """A field read by plain XML steps: it can join its level's walk of the elements."""
        if rule.each is not None or rule.repeated or not rule.canonical_paths():
            return False
        locator = self._locate(rule.wire)
        return isinstance(locator, Locator) and locator.steps is not None

    def _compile_rule(self, rule: Rule) -> Step:
        if rule.each is not None:
            return self._each(rule)
        if rule.repeated:
            return self._repeated(rule)
        return self._field(rule)

    def _provenance(self, rule: Rule) -> Callable[[str | None, str], Provenance]:
        """The provenance of a field this rule found at ``where`` in a message from ``system``.

        Made once per rule, sender and place, then shared by every message that puts the field
        there: provenance records are immutable, and a field sits in the same few places."""
        spec_id, version, rule_id = self.effective.spec.id, self.effective.version, rule.id
        made: dict[tuple[str | None, str], Provenance] = {}

        def provenance(system: str | None, where: str) -> Provenance:
            found = made.get((system, where))
            if found is None:
                if len(made) >= PROVENANCE_KEPT:
                    made.clear()
                found = made[(system, where)] = Provenance(system, where, rule_id, spec_id, version)
            return found
        return provenance

    def _field(self, rule: Rule) -> Step:
        locator, apply = self._locate(rule.wire), self._apply(rule)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            found = run.reader.first(context, locator, base)
            if found is None:
                apply(run, None, "", out, prefix)
            else:
                apply(run, found[0], found[1], out, prefix)
        return step

    def _apply(self, rule: Rule) -> Apply:
        """What a plain field does with the value found for it (None: nothing was found)."""
        wire, rule_id = rule.wire, rule.id
        required, default = rule.required, rule.default
        when = _condition(rule.when)
        convert = self._converter(rule)
        provenance = self._provenance(rule)
        targets = [(target, paths.putter(target)) for target in rule.canonical_paths()]
        single = targets[0] if len(targets) == 1 else None
        if not targets:
            return _ignore

        def apply(run: _Run, value: Any, where: str, out: dict[str, Any], prefix: str) -> None:
            if value is None:
                if default is None:
                    if required:
                        raise MappingError(rule_id, wire, "required but missing")
                    return
                value, where = default, "(default)"
            if when is not None and not when(out):
                return
            if convert is not None:
                value = convert(value, where)
            if single is not None:
                if value == "" or value is None:
                    return
                single[1](out, value)
                run.provenance[prefix + single[0]] = provenance(run.system, where)
                return
            for (target, put), item in zip(targets, value, strict=True):
                if item == "" or item is None:
                    continue
                put(out, item)
                run.provenance[prefix + target] = provenance(run.system, where)
        return apply

    def _elements(self, rules: list[Rule]) -> Step:
        """Plain XML fields of one level read in one walk of the elements they sit in: each
        element on their paths is found once, however many fields it holds. Where a step meets a
        repeated element the walk leaves those fields to their own rules (first value wins)."""
        root = _Element("", "")
        for rule in rules:
            locator = self._locate(rule.wire)
            assert isinstance(locator, Locator) and locator.steps is not None
            node = root
            for tag in locator.steps:
                node = node.children.setdefault(tag, _Element(tag, "/" + etree.QName(tag).localname))
            suffix = "" if locator.attribute is None else \
                "/@" + etree.QName(locator.attribute).localname
            apply = self._apply(rule)
            if self._converter(rule) is None and rule.default is None and not rule.required \
                    and len(rule.canonical_paths()) == 1:
                target = rule.canonical_paths()[0]
                node.plain.append((locator.attribute, suffix, target, paths.putter(target),
                                   self._provenance(rule)))
            else:
                node.fields.append((locator.attribute, suffix, apply))
            _below(root, locator.steps, self._field(rule), apply,
                   needy=rule.required or rule.default is not None)

        def visit(node: _Element, element: Any, where: str, run: _Run, context: Any, base: str,
                  out: dict[str, Any], prefix: str) -> None:
            for attribute, suffix, target, put, provenance in node.plain:
                value = element.text if attribute is None else element.get(attribute)
                if value and (value := value.strip()):
                    put(out, value)
                    run.provenance[prefix + target] = provenance(run.system, where + suffix)
            for attribute, suffix, apply in node.fields:
                value = element.text if attribute is None else element.get(attribute)
                if value:
                    value = value.strip() or None
                apply(run, value, where + suffix, out, prefix)
            if not node.children:
                return
            kids = run.reader.kids(element)
            for tag, child in node.children.items():
                group = kids.get(tag)
                if group is None:
                    for apply in child.needy:
                        apply(run, None, "", out, prefix)
                elif len(group) > 1:
                    for fallback in child.fallbacks:
                        fallback(run, context, base, out, prefix)
                else:
                    visit(child, group[0], where + child.suffix, run, context, base, out, prefix)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            visit(root, context, run.reader.where(context), run, context, base, out, prefix)
        return step

    def _repeated(self, rule: Rule) -> Step:
        locator, wire, rule_id, canonical = self._locate(rule.wire), rule.wire, rule.id, rule.canonical
        assert isinstance(canonical, str)
        required, when = rule.required, _condition(rule.when)
        convert = self._converter(rule)
        provenance = self._provenance(rule)
        put = paths.putter(canonical)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            every = run.reader.every(context, locator, base)
            if not every:
                if required:
                    raise MappingError(rule_id, wire, "required but missing")
                return
            if when is not None and not when(out):
                return
            put(out, [convert(value, where) if convert is not None else value
                      for value, where in every])
            for index, (_value, where) in enumerate(every):
                run.provenance[f"{prefix}{canonical}[{index}]"] = provenance(run.system, where)
        return step

    def _each(self, rule: Rule) -> Step:
        locator, canonical = self._locate(rule.wire), rule.canonical
        assert isinstance(canonical, str) and rule.each is not None
        nested = self._compile(rule.each)
        gather, put = paths.getter(canonical), paths.putter(canonical)
        provenance = self._provenance(rule)
        selected = None
        if rule.select is not None and rule.select.equals is not None:
            selected = (rule.select.canonical, paths.getter(rule.select.canonical),
                        paths.putter(rule.select.canonical), rule.select.equals)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            gathered = gather(out)
            items = [] if gathered is MISSING else list(gathered)
            for node, node_where in run.reader.elements(context, locator, base):
                item: dict[str, Any] = {}
                item_prefix = f"{prefix}{canonical}[{len(items)}]."
                for inner in nested:
                    inner(run, node, node_where, item, item_prefix)
                if selected is not None and selected[1](item) is MISSING:
                    selected[2](item, selected[3])
                    run.provenance[item_prefix + selected[0]] = provenance(run.system, node_where)
                items.append(item)
            if items:
                put(out, items)
        return step

    def _converter(self, rule: Rule) -> Callable[[Any, str], Any] | None:
        """Wire value to canonical: the code list read backwards, then the transform."""
        if not rule.code_list and not rule.transform:
            return None
        inverse = self.effective.inverse_code_lists[rule.code_list] if rule.code_list else None
        to_canonical = transform(rule.transform).to_canonical if rule.transform else None
        rule_id, code_list, options = rule.id, rule.code_list, rule.options

        def convert(value: Any, where: str) -> Any:
            if inverse is not None:
                code = inverse.get(str(value))
                if code is None:
                    raise MappingError(rule_id, where, f"{value!r} is not a code of {code_list}")
                value = code
            if to_canonical is not None:
                try:
                    value = to_canonical(value, options)
                except TransformError as error:
                    raise MappingError(rule_id, where, str(error)) from None
            return value
        return convert


class _Element:
    """An element on the paths of one level's plain fields: the fields it holds, the elements
    below it, and, for the fields anywhere below, what to do if it is missing (``needy``: those
    that are required or have a default) or repeats (``fallbacks``: each field's own rule)."""

    __slots__ = ("tag", "suffix", "children", "plain", "fields", "needy", "fallbacks")

    def __init__(self, tag: str, suffix: str):
        self.tag, self.suffix = tag, suffix
        self.children: dict[str, _Element] = {}
        # fields kept as found (no code list, transform, default or requirement): read inline
        self.plain: list[tuple[str | None, str, str, Callable[[dict[str, Any], Any], None],
                               Callable[[str | None, str], Provenance]]] = []
        self.fields: list[tuple[str | None, str, Apply]] = []
        self.needy: list[Apply] = []
        self.fallbacks: list[Step] = []


def _below(root: _Element, steps: tuple[str, ...], fallback: Step, apply: Apply, needy: bool) -> None:
    node = root
    for tag in steps:
        node = node.children[tag]
        node.fallbacks.append(fallback)
        if needy:
            node.needy.append(apply)


def _order_free(rules: list[Rule]) -> bool:
    """Whether a level's plain fields may be read in any order: no condition looks at what
    earlier rules found, and no field is filled by two rules (the later would win). Repeated
    elements (``each``) may share a list: they keep their order, after the plain fields."""
    if any(rule.when is not None for rule in rules):
        return False
    targets = [path for rule in rules if rule.each is None for path in rule.canonical_paths()]
    lists = {rule.canonical for rule in rules if rule.each is not None}
    return len(targets) == len(set(targets)) and not lists.intersection(targets)


def _ignore(run: _Run, value: Any, where: str, out: dict[str, Any], prefix: str) -> None:
    """A rule with no canonical field (a wire constant) keeps nothing."""


def _condition(condition: Condition | None) -> Callable[[dict[str, Any]], bool] | None:
    return None if condition is None else compile_condition(condition)


def compile_condition(condition: Condition) -> Callable[[dict[str, Any]], bool]:
    """A rule's ``when`` (or an item's ``select``) as a test of canonical data."""
    get = paths.getter(condition.canonical)
    present, equals, not_equals = condition.present, condition.equals, condition.not_equals
    equals_text = None if equals is None else str(equals)
    not_equals_text = None if not_equals is None else str(not_equals)

    def holds(data: dict[str, Any]) -> bool:
        value = get(data)
        if present is not None and (value is not MISSING) != present:
            return False
        if equals_text is not None and (value is MISSING or str(value) != equals_text):
            return False
        return not (not_equals_text is not None and value is not MISSING
                    and str(value) == not_equals_text)
    return holds
