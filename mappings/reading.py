"""Reading plans: a spec's inbound rules compiled once into levels of steps that map a wire
document to canonical data with the provenance of every field.

Compiling does, once per spec version, everything that does not depend on the message: paths
split and namespace-qualified, code lists inverted, transforms bound to their options, canonical
paths split, conditions made into tests, provenance records prepared (``mappings.provenance``). A
level is the document, or one item of a repeated element: its plain XML fields are read in one
walk of their elements (``mappings.walk``), then every other rule runs its own small step. A
repeated element found by plain XML steps is one function of code made when compiling, its items'
walk written into it. What each kind of rule means (a plain field, a repeated value, a repeated
element with ``each``) is described on ``mappings.spec.Rule``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hub.canonical import FieldSource as Provenance
from mappings import paths
from mappings.codecs import JsonCodec, Locator, XmlCodec
from mappings.converting import Convert, to_canonical
from mappings.paths import MISSING
from mappings.provenance import DEFAULT, Marks, Place
from mappings.results import MappingError, Parsed
from mappings.spec import Condition, Rule
from mappings.transforms import TransformError
from mappings.walk import Apply, Code, ElementWalk, PlainField, Step

if TYPE_CHECKING:
    from mappings.engine import EffectiveSpec

HEADER_FIELDS = ("message_id", "sent_at", "correlation_id", "version")
PROVENANCE_KEPT = 1024  # per rule: the places a field was found, across senders


class _Run:
    """One parse in progress: the document's reader, where provenance goes, the sender."""

    __slots__ = ("reader", "provenance", "system")

    def __init__(self, reader: Any, provenance: dict[str, Provenance], system: str | None):
        self.reader, self.provenance, self.system = reader, provenance, system


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


class Level:
    """The rules of one level compiled: its plain XML fields read in one walk, then the steps
    of its other rules, in rule order. ``marks`` holds the provenance the level can record."""

    __slots__ = ("marks", "plain", "walk", "steps")

    def __init__(self, marks: Marks, plain: ElementWalk | None, steps: list[Step]):
        self.marks, self.plain, self.steps = marks, plain, steps
        self.walk = plain.read if plain is not None else None

    def read(self, run: _Run, context: Any, place: Place, out: dict[str, Any]) -> None:
        if self.walk is not None:
            self.walk(run, context, place, out)
        for step in self.steps:
            step(run, context, place.where, out, place.prefix)


class ReadingPlan:
    """Parse documents of one effective spec: ``plan.parse(document, system)``."""

    def __init__(self, effective: EffectiveSpec):
        self.effective = effective
        codec = effective.codec
        self._xml = isinstance(codec, XmlCodec)
        self._locate: Callable[[str], Locator | str] = (
            codec.locate if isinstance(codec, XmlCodec) else (lambda path: path)
        )
        header = effective.spec.header
        self._header = [(name, self._locate(path)) for name in HEADER_FIELDS
                        if (path := getattr(header, name))]
        self._level = self._compile(effective.spec.rules)

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
        place = self._level.marks.place(system, "", reader.where(document) if self._xml else "")
        self._level.read(run, document, place, result.data)
        return result

    # -- compiling ---------------------------------------------------------------------------

    def _compile(self, rules: list[Rule]) -> Level:
        rules = [rule for rule in rules if rule.direction != "outbound"]
        marks = Marks(self.effective.spec.id, self.effective.version)
        plain = [rule for rule in rules if self._plain(rule)] if _order_free(rules) else []
        walk = ElementWalk([self._plain_field(rule) for rule in plain], marks) if plain else None
        batched = {id(rule) for rule in plain}
        return Level(marks, walk, [self._compile_rule(rule) for rule in rules
                                   if id(rule) not in batched])

    def _plain(self, rule: Rule) -> bool:
        """A field read by plain XML steps: it can join its level's walk of the elements."""
        if rule.each is not None or rule.repeated or not rule.canonical_paths():
            return False
        locator = self._locate(rule.wire)
        return isinstance(locator, Locator) and locator.steps is not None

    def _plain_field(self, rule: Rule) -> PlainField:
        locator = self._locate(rule.wire)
        assert isinstance(locator, Locator)
        return PlainField(rule.id, rule.wire, tuple(rule.canonical_paths()), locator,
                          self._converter(rule), rule.default, rule.required, self._apply(rule),
                          self._field(rule))

    def _compile_rule(self, rule: Rule) -> Step:
        if rule.each is not None:
            locator = self._locate(rule.wire)
            plain = isinstance(locator, Locator) and locator.steps is not None \
                and locator.attribute is None
            return self._each_element(rule) if plain else self._each(rule)
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
                value, where = default, DEFAULT
            if when is not None and not when(out):
                return
            if convert is not None:
                try:
                    value = convert(value)
                except TransformError as problem:
                    raise MappingError(rule_id, where, str(problem)) from None
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

    def _repeated(self, rule: Rule) -> Step:
        locator, wire, rule_id, canonical = self._locate(rule.wire), rule.wire, rule.id, rule.canonical
        assert isinstance(canonical, str)
        required, when = rule.required, _condition(rule.when)
        convert = self._converter(rule)
        provenance = self._provenance(rule)
        put = paths.putter(canonical)
        if isinstance(locator, Locator) and locator.steps is not None:
            return self._repeated_plain(rule, locator, convert, provenance, put)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            every = run.reader.every(context, locator, base)
            if not every:
                if required:
                    raise MappingError(rule_id, wire, "required but missing")
                return
            if when is not None and not when(out):
                return
            values = []
            for value, where in every:
                try:
                    values.append(value if convert is None else convert(value))
                except TransformError as problem:
                    raise MappingError(rule_id, where, str(problem)) from None
            put(out, values)
            for index, (_value, where) in enumerate(every):
                run.provenance[f"{prefix}{canonical}[{index}]"] = provenance(run.system, where)
        return step

    def _repeated_plain(self, rule: Rule, locator: Locator, convert: Convert | None,
                        provenance: Callable[[str | None, str], Provenance],
                        put: Callable[[dict[str, Any], Any], None]) -> Step:
        """``_repeated`` for values found by plain XML steps: each value's canonical path, wire
        path and provenance are made the first time a message has a value in that position, and
        kept by position."""
        wire, rule_id, canonical = rule.wire, rule.id, rule.canonical
        required, when = rule.required, _condition(rule.when)
        steps, locals_, attribute = locator.steps, locator.locals, locator.attribute
        suffix = locator.attribute_suffix
        assert steps is not None
        made: dict[tuple[Any, ...], tuple[str, str]] = {}  # by place: (canonical path, wire path)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            reader = run.reader
            found = []
            for node, positions in reader.reach(context, steps):
                value = node.text if attribute is None else node.get(attribute)
                if value and (value := value.strip()):
                    found.append((value, positions))
            if not found:
                if required:
                    raise MappingError(rule_id, wire, "required but missing")
                return
            if when is not None and not when(out):
                return
            system = run.system
            where = reader.paths.get(context)
            if where is None:
                where = reader.where(context)
            placed = []
            for index, (_value, positions) in enumerate(found):
                key = (system, prefix, where, index, positions)
                known = made.get(key)
                if known is None:
                    if len(made) >= PROVENANCE_KEPT:
                        made.clear()
                    known = made[key] = (f"{prefix}{canonical}[{index}]",
                                         where + _path(locals_, positions) + suffix)
                placed.append(known)
            values = []
            for (value, _positions), (_key, value_where) in zip(found, placed, strict=True):
                try:
                    values.append(value if convert is None else convert(value))
                except TransformError as problem:
                    raise MappingError(rule_id, value_where, str(problem)) from None
            put(out, values)
            kept = run.provenance
            for key, value_where in placed:
                kept[key] = provenance(system, value_where)
        return step

    def _each(self, rule: Rule) -> Step:
        """A repeated element found by XPath (XML) or a dotted path (JSON): each item's place is
        named by its paths."""
        locator, canonical = self._locate(rule.wire), rule.canonical
        assert isinstance(canonical, str) and rule.each is not None
        level = self._compile(rule.each)
        gather, put = paths.getter(canonical), paths.putter(canonical)
        select = self._select(rule, level.marks)

        def step(run: _Run, context: Any, base: str, out: dict[str, Any], prefix: str) -> None:
            gathered = gather(out)
            items = [] if gathered is MISSING else list(gathered)
            for node, node_where in run.reader.elements(context, locator, base):
                item: dict[str, Any] = {}
                place = level.marks.place(run.system, f"{prefix}{canonical}[{len(items)}].",
                                          node_where)
                level.read(run, node, place, item)
                if select is not None:
                    select(run, item, place)
                items.append(item)
            if items:
                put(out, items)
        return step

    def _each_element(self, rule: Rule) -> Step:
        """A repeated element found by plain XML steps: each item's place is named by its
        position, and its paths are made only the first time a message has an item there."""
        locator, canonical = self._locate(rule.wire), rule.canonical
        assert isinstance(locator, Locator) and locator.steps is not None
        assert isinstance(canonical, str) and rule.each is not None
        steps, locals_ = locator.steps, locator.locals
        level = self._compile(rule.each)
        marks = level.marks
        gather, put = paths.getter(canonical), paths.putter(canonical)
        # the step is made as code, with the walk of an item's plain fields written into it
        code = Code()
        for name, value in (("gather", gather), ("put", put), ("MISSING", MISSING),
                            ("steps", steps), ("locals_", locals_), ("canonical", canonical),
                            ("known", marks.places.get), ("keep", marks.keep), ("make_place", marks.make),
                            ("_path", _path)):
            code.name(name, value)
        add = code.add
        add("    ", "def step(run, context, base, out, prefix):")
        body = "            "
        for line in (
            "reader, system, provenance = run.reader, run.system, run.provenance",
            "children, remember = reader.children, reader.paths",
            "where = base or reader.where(context)",
            "gathered = gather(out)",
            "items = [] if gathered is MISSING else list(gathered)",
        ):
            add("        ", line)
        # the items: down plain steps written in, the last one matched by lxml when its element
        # is not indexed; where an element on the way repeats, the reader's general reach
        add("        ", "holder, spots, group = context, None, ()")
        for tag in steps[:-1]:
            add("        ", "if holder is not None:")
            add("        ", f"    holder = (children.get(holder) or reader.index(holder))[0].get({tag!r})")
            add("        ", "    if holder is REPEATED:")
            add("        ", "        holder, spots = None, ()")
        if not steps:  # the element in hand is the one item
            add("        ", "spots = ()")
        last = steps[-1] if steps else ""
        code.name("zeros", (0,) * (len(steps) - 1))
        for line in (
            "if spots is not None:",
            "    reached = reader.reach(context, steps)",
            "    group = [node for node, _positions in reached]",
            "    spots = [positions for _node, positions in reached]",
            "elif holder is not None:",
            "    indexed = children.get(holder)",
            "    if indexed is None:",
            f"        group = list(holder.iterchildren({last!r}))",
            "    else:",
            f"        found = indexed[0].get({last!r})",
            "        if found is REPEATED:",
            f"            group = indexed[1][{last!r}]",
            "        elif found is not None:",
            "            group = (found,)",
            "repeated = len(group) > 1",
            "for ordinal, node in enumerate(group):",
        ):
            add("        ", line)
        for line in (
            "count = len(items)",
            "if spots is None:",
            "    spot = ordinal + 1 if repeated else 0",
            "    positions = None",
            "else:",
            "    spot = positions = spots[ordinal]",
            "key = (system, prefix, where, count, spot)",
            "place = known(key)",
            "if place is None:",
            "    if positions is None:",
            "        positions = (*zeros, spot)",
            "    place = keep(key, make_place(system, f'{prefix}{canonical}[{count}].',",
            "                                 where + _path(locals_, positions)))",
            "remember[node] = place.where",
            "item = {}",
            "keys, sources = place.keys, place.sources",
        ):
            add(body, line)
        if level.plain is not None:
            level.plain.body(code, body, "node", "item")
        for item_step in level.steps:
            add(body, f"{code.bind('step', item_step)}(run, node, place.where, item, place.prefix)")
        if rule.select is not None and rule.select.equals is not None:
            mark = marks.add(rule.select.canonical, "", rule.id)
            code.name("select_put", paths.putter(rule.select.canonical))
            code.name("equals", rule.select.equals)
            if "." in rule.select.canonical:
                code.name("select_get", paths.getter(rule.select.canonical))
                add(body, "if select_get(item) is MISSING:")
            else:  # paths.getter's test, written in
                add(body, f"found = item.get({rule.select.canonical!r})")
                add(body, "if found is None or found == '' or found == []:")
            add(body, "    select_put(item, equals)")
            add(body, f"    provenance[keys[{mark}]] = sources[{mark}]")
        add(body, "items.append(item)")
        add("        ", "if items:")
        add("        ", "    put(out, items)")
        add("    ", "return step")
        return code.make(f"<items of {rule.id}>")  # type: ignore[no-any-return]

    @staticmethod
    def _select(rule: Rule, marks: Marks) -> Callable[[_Run, dict[str, Any], Place], None] | None:
        """For a repeated element with ``select``: give each item the ``equals`` value if its
        rules left that field empty, its provenance the item's element."""
        if rule.select is None or rule.select.equals is None:
            return None
        get, put = paths.getter(rule.select.canonical), paths.putter(rule.select.canonical)
        equals, mark = rule.select.equals, marks.add(rule.select.canonical, "", rule.id)

        def select(run: _Run, item: dict[str, Any], place: Place) -> None:
            if get(item) is MISSING:
                put(item, equals)
                run.provenance[place.keys[mark]] = place.sources[mark]
        return select

    def _converter(self, rule: Rule) -> Convert | None:
        """Wire value to canonical: the code list read backwards, then the transform."""
        code_list = self.effective.code_lists[rule.code_list] if rule.code_list else None
        return to_canonical(code_list, rule.transform, rule.options)


def _path(locals_: tuple[str, ...], positions: tuple[int, ...]) -> str:
    """The wire path of steps from an element: ``/a/b[2]``, a position where a tag repeats."""
    return "".join(f"/{local}[{position}]" if position else f"/{local}"
                   for local, position in zip(locals_, positions, strict=True))


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
