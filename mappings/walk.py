"""One walk of the elements for the plain XML fields of one level of a reading plan.

A level is the document, or one item of a repeated element. Its plain fields (a value read by
plain steps, ``c:child/c:name/c:given`` or ``c:episode/@id``, into one place of the canonical
data) are compiled into a tree of the elements on their paths, flattened parent first. A parse
then finds each of those elements once, however many fields it holds, reads the fields' values,
puts them into the canonical data and records their provenance from the level's template
(``mappings.provenance``): one look-up per field, no path built per field.

Where an element on a field's path is missing, the fields below it that are required or have a
default say so; where it repeats, the fields below it are left to their rules' own steps (which
take the first value, and say where it was).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mappings.codecs import REPEATED, Locator
from mappings.converting import Convert
from mappings.provenance import Marks, Place
from mappings.results import MappingError
from mappings.transforms import TransformError

# (run, context element, its path in the document, canonical data so far, prefix)
Step = Callable[[Any, Any, str, dict[str, Any], str], None]
# (run, value found or None, where it was found, canonical data so far, prefix)
Apply = Callable[[Any, Any, str, dict[str, Any], str], None]

@dataclass(frozen=True, slots=True)
class PlainField:
    """A field of a level read by plain steps, as its reading plan compiled it: ``apply`` and
    ``fallback`` are the rule's own general handling, for several canonical fields and for an
    element on its path that repeats."""

    rule_id: str
    wire: str
    canonical: tuple[str, ...]
    locator: Locator
    convert: Convert | None
    default: Any
    required: bool
    apply: Apply
    fallback: Step


@dataclass(frozen=True, slots=True)
class _Needy:
    """What a single-field rule does when its value is missing: its default, or an error."""

    rule_id: str
    wire: str
    default: Any
    required: bool
    convert: Convert | None
    box: int
    last: str
    mark: int  # the provenance mark of the default


# a field read at an element: (attribute, or None for the text; its provenance mark; its
# converter; the dict it goes into, by index in ``ElementWalk._boxes``; its key there; what to do
# if it has no value, or None)
_Read = tuple[str | None, int, Convert | None, int, str, _Needy | None]
# a field that is the text of a child element holding nothing else: (the child's tag, then as
# ``_Read``, then the rule's own step for where the child repeats)
_Leaf = tuple[str, int, Convert | None, int, str, _Needy | None, Step]
# a field with several canonical fields: (attribute, wire path below the level, the rule's apply)
_General = tuple[str | None, str, Apply]


class _Node:
    """An element on the paths of the level's fields, while compiling."""

    __slots__ = ("tag", "suffix", "children", "reads", "general", "needy", "fallbacks")

    def __init__(self, tag: str | None, suffix: str):
        self.tag, self.suffix = tag, suffix
        self.children: dict[str, _Node] = {}
        self.reads: list[_Read] = []
        self.general: list[_General] = []
        self.needy: list[_Needy | Apply] = []  # for the fields below, if it is missing
        self.fallbacks: list[Step] = []         # for the fields below, if it repeats

    def leaf(self) -> bool:
        """Holds one field, its text, and nothing else: read from its parent's entry."""
        return not self.children and not self.general and len(self.reads) == 1 \
            and self.reads[0][0] is None


class ElementWalk:
    """The plain XML fields of one level, read in one walk: ``walk(run, element, place, out)``,
    their provenance marked in the level's ``marks``."""

    def __init__(self, fields: list[PlainField], marks: Marks):
        self.marks = marks
        self._boxes: list[tuple[str, ...]] = [()]
        root = _Node(None, "")
        for field in fields:
            self._add(root, field)
        # parent first, the level's element at 0: (index of the parent's entry, tag, reads at
        # the element, leaf children, fields with several canonical fields, what to do for the
        # fields below if the element is missing, and if it repeats)
        self._nodes: list[tuple[int, str | None, tuple[_Read, ...], tuple[_Leaf, ...],
                                tuple[_General, ...], tuple[_Needy | Apply, ...],
                                tuple[Step, ...]]] = []
        self._flatten(root, -1)

    def _add(self, root: _Node, field: PlainField) -> None:
        locator = field.locator
        assert locator.steps is not None
        node, suffix = root, ""
        for tag, local in zip(locator.steps, locator.locals, strict=True):
            suffix += "/" + local
            node = node.children.setdefault(tag, _Node(tag, suffix))
            node.fallbacks.append(field.fallback)
        if len(field.canonical) != 1:
            node.general.append((locator.attribute, node.suffix + locator.attribute_suffix,
                                 field.apply))
            self._needy(root, locator.steps, field.apply, field)
            return
        canonical = field.canonical[0]
        container, _, last = canonical.rpartition(".")
        parts = tuple(container.split(".")) if container else ()
        if parts not in self._boxes:
            self._boxes.append(parts)
        box = self._boxes.index(parts)
        mark = self.marks.add(canonical, node.suffix + locator.attribute_suffix, field.rule_id)
        needy = None
        if field.required or field.default is not None:
            needy = _Needy(field.rule_id, field.wire, field.default, field.required, field.convert,
                           box, last, self.marks.add(canonical, None, field.rule_id))
            self._needy(root, locator.steps, needy, field)
        node.reads.append((locator.attribute, mark, field.convert, box, last, needy))

    @staticmethod
    def _needy(root: _Node, steps: tuple[str, ...], needy: _Needy | Apply, field: PlainField) -> None:
        if not (field.required or field.default is not None):
            return
        node = root
        for tag in steps:
            node = node.children[tag]
            node.needy.append(needy)

    def _flatten(self, node: _Node, parent: int) -> None:
        leaves = [(child.tag, *child.reads[0][1:], child.fallbacks[0])
                  for child in node.children.values() if child.leaf()]
        self._nodes.append((parent, node.tag, tuple(node.reads), tuple(leaves),  # type: ignore[arg-type]
                            tuple(node.general), tuple(node.needy), tuple(node.fallbacks)))
        index = len(self._nodes) - 1
        for child in node.children.values():
            if not child.leaf():
                self._flatten(child, index)

    def __call__(self, run: Any, context: Any, place: Place, out: dict[str, Any]) -> None:
        reader = run.reader
        keys, sources = place.keys, place.sources
        provenance = run.provenance
        boxes: list[Any] = [None] * len(self._boxes)
        boxes[0] = out
        found: list[Any] = [None] * len(self._nodes)
        children = reader.children
        for position, (parent, tag, reads, leaves, general, needy, fallbacks) \
                in enumerate(self._nodes):
            if tag is None:
                element = context
            else:
                holder = found[parent]
                if holder is None:
                    continue
                element = (children.get(holder) or reader.index(holder))[0].get(tag)
                if element is None:
                    for missing in needy:
                        self._missing(missing, run, out, place, boxes)
                    continue
                if element is REPEATED:
                    for fallback in fallbacks:
                        fallback(run, context, place.where, out, place.prefix)
                    continue
            found[position] = element
            for attribute, mark, convert, box, last, needs in reads:
                value = element.text if attribute is None else element.get(attribute)
                if value and (value := value.strip()):
                    if convert is not None:
                        try:
                            value = convert(value)
                        except TransformError as problem:
                            raise _unconvertible(sources[mark], problem) from None
                        if value == "" or value is None:
                            continue
                    into = boxes[box]
                    if into is None:
                        into = boxes[box] = self._box(out, box)
                    into[last] = value
                    provenance[keys[mark]] = sources[mark]
                elif needs is not None:
                    self._missing(needs, run, out, place, boxes)
            if leaves:
                firsts = (children.get(element) or reader.index(element))[0]
                for tag, mark, convert, box, last, needs, fallback in leaves:
                    child = firsts.get(tag)
                    if child is None:
                        if needs is not None:
                            self._missing(needs, run, out, place, boxes)
                        continue
                    if child is REPEATED:
                        fallback(run, context, place.where, out, place.prefix)
                        continue
                    value = child.text
                    if value and (value := value.strip()):
                        if convert is not None:
                            try:
                                value = convert(value)
                            except TransformError as problem:
                                raise _unconvertible(sources[mark], problem) from None
                            if value == "" or value is None:
                                continue
                        into = boxes[box]
                        if into is None:
                            into = boxes[box] = self._box(out, box)
                        into[last] = value
                        provenance[keys[mark]] = sources[mark]
                    elif needs is not None:
                        self._missing(needs, run, out, place, boxes)
            for attribute, suffix, apply in general:
                value = element.text if attribute is None else element.get(attribute)
                apply(run, (value.strip() or None) if value else None, place.where + suffix, out,
                      place.prefix)

    def _missing(self, needy: _Needy | Apply, run: Any, out: dict[str, Any], place: Place,
                 boxes: list[Any]) -> None:
        """A field with no value: its default, kept as found, or an error if it is required."""
        if not isinstance(needy, _Needy):
            needy(run, None, "", out, place.prefix)
            return
        if needy.default is None:
            if needy.required:
                raise MappingError(needy.rule_id, needy.wire, "required but missing")
            return
        value = needy.default
        if needy.convert is not None:
            try:
                value = needy.convert(value)
            except TransformError as problem:
                raise MappingError(needy.rule_id, "(default)", str(problem)) from None
        if value == "" or value is None:
            return
        into = boxes[needy.box]
        if into is None:
            into = boxes[needy.box] = self._box(out, needy.box)
        into[needy.last] = value
        run.provenance[place.keys[needy.mark]] = place.sources[needy.mark]

    def _box(self, out: dict[str, Any], box: int) -> dict[str, Any]:
        """The dict a box names in the level's canonical data, made on the way if need be."""
        node = out
        for part in self._boxes[box]:
            node = node.setdefault(part, {})
        return node


def _unconvertible(source: Any, problem: TransformError) -> MappingError:
    """The error for a value found at ``source`` (its provenance) that its rule cannot convert."""
    return MappingError(source.rule_id, source.wire_path, str(problem))
