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
    # The walk of a level is made into Python code when the plan is compiled: a block of straight
    # code per element on the fields' paths, nested as the elements are, parent first, reading
    # each field where the element holds it. The rules' converters, defaults and own steps are
    # bound to the code, its tags and attribute names are written into it.

    def _generate(self) -> Callable[[Any, Any, Place, dict[str, Any]], None]:
        code = Code()
        code.add("    ", "def read(run, context, place, out):")
        code.add("        ", "provenance = run.provenance")
        code.add("        ", "keys, sources = place.keys, place.sources")
        code.add("        ", "reader = run.reader")
        code.add("        ", "children = reader.children")
        self.body(code, "        ", "context", "out")
        code.add("    ", "return read")
        self.source = code.source()
        return code.make(f"<walk of {len(self._nodes)} elements>")  # type: ignore[no-any-return]

    def body(self, code: Code, indent: str, context: str, out: str) -> None:
        """The walk's code, for the level's element named ``context`` and its canonical data
        ``out``; ``run``, ``place``, ``keys``, ``sources``, ``provenance``, ``reader`` and
        ``children`` are in scope."""
        code.context, code.out = context, out
        for box in range(1, len(self._boxes)):
            code.add(indent, f"box{box} = None")
        below: dict[int, list[int]] = {}
        for position, node in enumerate(self._nodes):
            below.setdefault(node[0], []).append(position)
        self._element(code, 0, context, below, indent)

    def _element(self, code: Code, position: int, element: str, below: dict[int, list[int]],
                 indent: str) -> None:
        """The code for one element found (``element`` names it): its fields, then the elements
        below it."""
        _parent, _tag, reads, leaves, general, _needy, _fallbacks = self._nodes[position]
        for attribute, mark, convert, box, last, needs in reads:
            read = f"{element}.text" if attribute is None else f"{element}.get({attribute!r})"
            self._value(code, read, mark, convert, box, last, needs, indent)
        lower = below.get(position, [])
        firsts = f"firsts{position}"
        if leaves or lower:
            code.add(indent, f"{firsts} = (children.get({element}) or reader.index({element}))[0]")
        for tag, mark, convert, box, last, needs, fallback in leaves:
            code.add(indent, f"child = {firsts}.get({tag!r})")
            code.add(indent, "if child is None:")
            if needs is not None:
                self._absent(code, needs, indent + "    ")
            code.add(indent, "    pass")
            code.add(indent, "elif child is REPEATED:")
            code.add(indent, f"    {self._fallback(code, fallback)}")
            code.add(indent, "else:")
            self._value(code, "child.text", mark, convert, box, last, needs, indent + "    ")
        for attribute, suffix, apply in general:
            read = f"{element}.text" if attribute is None else f"{element}.get({attribute!r})"
            code.add(indent, f"value = {read}")
            code.add(indent, f"{code.bind('apply', apply)}(run, (value.strip() or None) if value "
                             f"else None, place.where + {suffix!r}, {code.out}, place.prefix)")
        for child in lower:
            _parent, tag, _reads, _leaves, _general, needy, fallbacks = self._nodes[child]
            found = f"element{child}"
            code.add(indent, f"{found} = {firsts}.get({tag!r})")
            code.add(indent, f"if {found} is None:")
            for needs in needy:
                self._absent(code, needs, indent + "    ")
            code.add(indent, "    pass")
            code.add(indent, f"elif {found} is REPEATED:")
            for fallback in fallbacks:
                code.add(indent, f"    {self._fallback(code, fallback)}")
            code.add(indent, "    pass")
            code.add(indent, "else:")
            self._element(code, child, found, below, indent + "    ")

    @staticmethod
    def _fallback(code: Code, fallback: Step) -> str:
        return f"{code.bind('fallback', fallback)}(run, {code.context}, place.where, {code.out}, " \
               "place.prefix)"

    def _value(self, code: Code, read: str, mark: int, convert: Convert | None, box: int,
               last: str, needs: _Needy | None, indent: str) -> None:
        """The code for one field's value: read, stripped, converted, kept with its provenance;
        or, if it has none, its default or an error."""
        code.add(indent, f"value = {read}")
        code.add(indent, "if value and (value := value.strip()):")
        inner = indent + "    "
        if convert is not None:
            code.add(inner, "try:")
            code.add(inner, f"    value = {code.bind('convert', convert)}(value)")
            code.add(inner, "except TransformError as problem:")
            code.add(inner, f"    raise _unconvertible(sources[{mark}], problem) from None")
            code.add(inner, "if value != '' and value is not None:")
            inner += "    "
        self._keep(code, box, last, mark, inner)
        if needs is not None:
            code.add(indent, "else:")
            self._absent(code, needs, indent + "    ")

    def _absent(self, code: Code, needs: _Needy | Apply, indent: str) -> None:
        """The code for a field with no value: its default, or an error if it is required."""
        if not isinstance(needs, _Needy):
            code.add(indent, f"{code.bind('apply', needs)}(run, None, '', {code.out}, place.prefix)")
            return
        code.add(indent, f"value = _default({code.bind('needy', needs)})")
        code.add(indent, "if value is not None:")
        self._keep(code, needs.box, needs.last, needs.mark, indent + "    ")

    def _keep(self, code: Code, box: int, last: str, mark: int, indent: str) -> None:
        into = code.out
        if box:
            made = into + "".join(f".setdefault({part!r}, {{}})" for part in self._boxes[box])
            into = f"box{box}"
            code.add(indent, f"if {into} is None:")
            code.add(indent, f"    {into} = {made}")
        code.add(indent, f"{into}[{last!r}] = value")
        code.add(indent, f"provenance[keys[{mark}]] = sources[{mark}]")


class Code:
    """Python source written for a reading plan, and the values bound to it by name: ``make``
    runs the source once and answers the function it defines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.bound: dict[str, Any] = {
            "REPEATED": REPEATED, "TransformError": TransformError,
            "_unconvertible": _unconvertible, "_default": _default,
        }
        self.context, self.out = "context", "out"  # the names of the element and its data

    def add(self, indent: str, line: str) -> None:
        self.lines.append(indent + line)

    def bind(self, kind: str, value: Any) -> str:
        """A name for ``value`` in the code (the same name each time for the same value)."""
        for name, known in self.bound.items():
            if known is value:
                return name
        name = f"{kind}{len(self.bound)}"
        self.bound[name] = value
        return name

    def name(self, name: str, value: Any) -> str:
        """``value`` bound under a name of the caller's."""
        assert name not in self.bound or self.bound[name] is value, name
        self.bound[name] = value
        return name

    def source(self) -> str:
        return "\n".join(["def make(" + ", ".join(self.bound) + "):", *self.lines, ""])

    def make(self, label: str) -> Any:
        namespace: dict[str, Any] = {}
        exec(compile(self.source(), label, "exec"), namespace)  # noqa: S102
        return namespace["make"](**self.bound)


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
