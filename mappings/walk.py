"""One walk of the elements for the plain XML fields of one level of a reading plan.

A level is the document, or one item of a repeated element. Its plain fields (a value read by
plain steps, ``c:child/c:name/c:given`` or ``c:episode/@id``, into one place of the canonical
data) are compiled into a tree of the elements on their paths, and the tree into one Python
function with a block of straight code per element, nested as the elements are. A parse then
finds each of those elements once, however many fields it holds, reads the fields' values, puts
them into the canonical data and records their provenance from the level's template
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
    """The plain XML fields of one level, read in one walk: ``walk.read(run, element, place,
    out)``, their provenance marked in the level's ``marks``. ``source`` is the walk's code."""

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
        self.source = ""
        self.read = self._generate()

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
        self.read(run, context, place, out)

    # -- the walk as code ----------------------------------------------------------------------
    #
    # The walk of a level is made into one Python function when the plan is compiled: a block of
    # straight code per element on the fields' paths, nested as the elements are, parent first,
    # reading each field where the element holds it. The rule's converters, defaults and own
    # steps are bound to the function, its tags and attribute names are written into it.

    def _generate(self) -> Callable[[Any, Any, Place, dict[str, Any]], None]:
        bound: dict[str, Any] = {}
        lines = [
            "def read(run, context, place, out):",
            "    provenance = run.provenance",
            "    keys, sources = place.keys, place.sources",
            "    reader = run.reader",
            "    children = reader.children",
        ]
        lines += [f"    box{box} = None" for box in range(1, len(self._boxes))]
        below: dict[int, list[int]] = {}
        for position, node in enumerate(self._nodes):
            below.setdefault(node[0], []).append(position)
        self._element(0, "context", below, bound, lines, "    ")
        source = "\n".join(["def make(" + ", ".join(bound) + "):", *("    " + line for line in lines),
                            "    return read", ""])
        self.source = source
        namespace: dict[str, Any] = {"REPEATED": REPEATED, "TransformError": TransformError,
                                     "_unconvertible": _unconvertible, "_default": _default}
        exec(compile(source, f"<walk of {len(self._nodes)} elements>", "exec"), namespace)  # noqa: S102
        return namespace["make"](**bound)  # type: ignore[no-any-return]

    def _element(self, position: int, element: str, below: dict[int, list[int]],
                 bound: dict[str, Any], lines: list[str], indent: str) -> None:
        """The code for one element found (``element`` names it): its fields, then the elements
        below it."""
        _parent, _tag, reads, leaves, general, _needy, _fallbacks = self._nodes[position]
        for attribute, mark, convert, box, last, needs in reads:
            read = f"{element}.text" if attribute is None else f"{element}.get({attribute!r})"
            self._value(read, mark, convert, box, last, needs, bound, lines, indent)
        lower = below.get(position, [])
        firsts = f"firsts{position}"
        if leaves or lower:
            lines.append(f"{indent}{firsts} = (children.get({element}) or reader.index({element}))[0]")
        for tag, mark, convert, box, last, needs, fallback in leaves:
            lines.append(f"{indent}child = {firsts}.get({tag!r})")
            lines.append(f"{indent}if child is None:")
            if needs is not None:
                self._absent(needs, bound, lines, indent + "    ")
            else:
                lines.append(f"{indent}    pass")
            lines.append(f"{indent}elif child is REPEATED:")
            lines.append(f"{indent}    {self._bind(bound, 'fallback', fallback)}"
                         "(run, context, place.where, out, place.prefix)")
            lines.append(f"{indent}else:")
            self._value("child.text", mark, convert, box, last, needs, bound, lines, indent + "    ")
        for attribute, suffix, apply in general:
            read = f"{element}.text" if attribute is None else f"{element}.get({attribute!r})"
            lines.append(f"{indent}value = {read}")
            lines.append(f"{indent}{self._bind(bound, 'apply', apply)}(run, "
                         f"(value.strip() or None) if value else None, place.where + {suffix!r}, "
                         "out, place.prefix)")
        for child in lower:
            _parent, tag, _reads, _leaves, _general, needy, fallbacks = self._nodes[child]
            found = f"element{child}"
            lines.append(f"{indent}{found} = {firsts}.get({tag!r})")
            lines.append(f"{indent}if {found} is None:")
            for needs in needy:
                self._absent(needs, bound, lines, indent + "    ")
            lines.append(f"{indent}    pass")
            lines.append(f"{indent}elif {found} is REPEATED:")
            for fallback in fallbacks:
                lines.append(f"{indent}    {self._bind(bound, 'fallback', fallback)}"
                             "(run, context, place.where, out, place.prefix)")
            lines.append(f"{indent}    pass")
            lines.append(f"{indent}else:")
            self._element(child, found, below, bound, lines, indent + "    ")

    def _value(self, read: str, mark: int, convert: Convert | None, box: int, last: str,
               needs: _Needy | None, bound: dict[str, Any], lines: list[str], indent: str) -> None:
        """The code for one field's value: read, stripped, converted, kept with its provenance;
        or, if it has none, its default or an error."""
        lines.append(f"{indent}value = {read}")
        lines.append(f"{indent}if value and (value := value.strip()):")
        inner = indent + "    "
        if convert is not None:
            lines.append(f"{inner}try:")
            lines.append(f"{inner}    value = {self._bind(bound, 'convert', convert)}(value)")
            lines.append(f"{inner}except TransformError as problem:")
            lines.append(f"{inner}    raise _unconvertible(sources[{mark}], problem) from None")
            lines.append(f"{inner}if value != '' and value is not None:")
            inner += "    "
        self._keep(box, last, mark, lines, inner)
        if needs is not None:
            lines.append(f"{indent}else:")
            self._absent(needs, bound, lines, indent + "    ")

    def _absent(self, needs: _Needy | Apply, bound: dict[str, Any], lines: list[str],
                indent: str) -> None:
        """The code for a field with no value: its default, or an error if it is required."""
        if not isinstance(needs, _Needy):
            lines.append(f"{indent}{self._bind(bound, 'apply', needs)}(run, None, '', out, place.prefix)")
            return
        lines.append(f"{indent}value = _default({self._bind(bound, 'needy', needs)})")
        lines.append(f"{indent}if value is not None:")
        self._keep(needs.box, needs.last, needs.mark, lines, indent + "    ")

    def _keep(self, box: int, last: str, mark: int, lines: list[str], indent: str) -> None:
        if box:
            made = "out" + "".join(f".setdefault({part!r}, {{}})" for part in self._boxes[box])
            lines.append(f"{indent}if box{box} is None:")
            lines.append(f"{indent}    box{box} = {made}")
        lines.append(f"{indent}{'out' if not box else f'box{box}'}[{last!r}] = value")
        lines.append(f"{indent}provenance[keys[{mark}]] = sources[{mark}]")

    @staticmethod
    def _bind(bound: dict[str, Any], kind: str, value: Any) -> str:
        for name, known in bound.items():
            if known is value:
                return name
        name = f"{kind}{len(bound)}"
        bound[name] = value
        return name


def _default(needy: _Needy) -> Any:
    """A missing field's default, converted (None: nothing to keep), or an error if the field is
    required and has none."""
    if needy.default is None:
        if needy.required:
            raise MappingError(needy.rule_id, needy.wire, "required but missing")
        return None
    value = needy.default
    if needy.convert is not None:
        try:
            value = needy.convert(value)
        except TransformError as problem:
            raise MappingError(needy.rule_id, "(default)", str(problem)) from None
    return None if value == "" or value is None else value


def _unconvertible(source: Any, problem: TransformError) -> MappingError:
    """The error for a value found at ``source`` (its provenance) that its rule cannot convert."""
    return MappingError(source.rule_id, source.wire_path, str(problem))
