"""Reading and writing values at paths in the two kinds of wire document: XML and JSON.

XML paths are XPath when reading. When writing, a path is a simple location the codec can build:
steps ``prefix:name``, optionally with ``[@attr='value']`` predicates, and a final ``@attr``; ``.``
is the element in hand. JSON paths are dotted keys, and a step ``key[field=value]`` picks (or, when
writing, adds) the list item whose ``field`` equals ``value``, as FHIR identifiers need; ``field``
may itself be dotted (``entry[resource.resourceType=Patient]`` picks a FHIR Bundle entry by the
type of its resource). A step ``key[2]`` is the list item at that position (from 0), as FHIR's
lists of one need (``name[use=official].given[0]``); writing fills a list in order, never leaving
a gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

_XML_STEP = re.compile(
    r"^(?P<attr>@)?(?:(?P<prefix>[A-Za-z_][\w.-]*):)?(?P<name>[A-Za-z_][\w.-]*)"
    r"(?P<predicates>(?:\[@[\w:.-]+='[^']*'\])*)$"
)
_XML_PREDICATE = re.compile(r"\[@([\w:.-]+)='([^']*)'\]")
_JSON_STEP = re.compile(
    r"^(?P<key>[^\[\]]+)(?:\[(?:(?P<index>\d+)|(?P<field>[^=\]]+)=(?P<value>[^\]]*))\])?$"
)


class PathError(ValueError):
    """A path the codec cannot read or build."""


def split_steps(path: str, separator: str) -> list[str]:
    """Split on ``separator`` outside square brackets (predicate values may hold it)."""
    steps, depth, current = [], 0, []
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == separator and depth == 0:
            steps.append("".join(current))
            current = []
        else:
            current.append(char)
    steps.append("".join(current))
    return [step for step in steps if step]


@dataclass(frozen=True)
class Found:
    value: Any
    where: str


_NAMESPACE = re.compile(r"\{[^}]*\}")
_SIMPLE_STEP = re.compile(r"^(?:[A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*$")


@dataclass(frozen=True)
class Locator:
    """A read path compiled once: its qualified steps, last attribute and the local-name suffix
    of the path it describes, or (``steps`` None) XPath for anything more than plain steps."""

    path: str
    steps: tuple[str, ...] | None
    attribute: str | None
    suffix: str
    locals: tuple[str, ...] = ()
    attribute_suffix: str = ""


REPEATED = object()  # in an element's index, a tag that more than one child element has
_NO_REPEATS: dict[str, list[etree._Element]] = {}

# an element's children: the child with each tag (``REPEATED`` where several have it), and the
# children of each tag that repeats
Index = tuple[dict[Any, Any], dict[Any, list[etree._Element]]]


class XmlReader:
    """Reads one XML document for a parse: each element's children are indexed once, and each
    element's path is built from its parent's, so a rule's simple path (``p:a/p:b``, ``@attr``)
    costs a few dictionary look-ups. Anything else (predicates, functions, axes) is XPath.

    ``first``, ``every`` and ``elements`` take a compiled ``Locator`` and answer plain
    ``(value, where)`` pairs: they are what compiled mapping plans call for every field."""

    def __init__(self, codec: XmlCodec, document: etree._Element):
        self.codec = codec
        self.children: dict[etree._Element, Index] = {}
        # each element's path, once known (a plan that reaches an element first says it)
        self.paths: dict[etree._Element, str] = {document: describe(document)}

    def index(self, element: etree._Element) -> Index:
        """The element's children by qualified tag, indexed on first use. Comments and
        processing instructions are indexed too, under their tag (a function): no path names
        them."""
        found = self.children.get(element)
        if found is not None:
            return found
        firsts = {child.tag: child for child in element}
        if len(firsts) == len(element):
            found = self.children[element] = (firsts, _NO_REPEATS)
            return found
        # a tag repeats: mark it in ``firsts`` (keeping its first place) and keep its children
        groups: dict[Any, list[etree._Element]] = {}
        for child in element:
            tag = child.tag
            group = groups.get(tag)
            if group is None:
                groups[tag] = [child]
            else:
                group.append(child)
        repeats: dict[Any, list[etree._Element]] = {}
        for tag, group in groups.items():
            if len(group) > 1:
                firsts[tag] = REPEATED
                repeats[tag] = group
        found = self.children[element] = (firsts, repeats)
        return found

    def group(self, element: etree._Element, tag: str) -> list[etree._Element]:
        """The element's children with the tag, in document order."""
        firsts, repeats = self.index(element)
        child = firsts.get(tag)
        if child is None:
            return []
        return repeats[tag] if child is REPEATED else [child]

    def where(self, element: etree._Element) -> str:
        found = self.paths.get(element)
        if found is None:
            parent = element.getparent()
            firsts, repeats = self.index(parent)
            name = etree.QName(element).localname
            if firsts[element.tag] is REPEATED:
                name += f"[{repeats[element.tag].index(element) + 1}]"
            found = self.paths[element] = f"{self.where(parent)}/{name}"
        return found

    def _walk(self, context: etree._Element, steps: tuple[str, ...]) -> list[etree._Element]:
        nodes = [context]
        for tag in steps:
            nodes = [child for node in nodes for child in self.group(node, tag)]
            if not nodes:
                break
        return nodes

    def _values(self, context: etree._Element, path: str, first: bool) -> list[Found]:
        simple = self.codec.simple(path)
        if simple is None:
            if first:
                found = self.codec.read(context, path)
                return [found] if found is not None else []
            return self.codec.read_all(context, path)
        steps, attribute = simple
        found = []
        for node in self._walk(context, steps):
            if attribute is not None:
                value = node.get(attribute)
                where = f"{self.where(node)}/@{etree.QName(attribute).localname}"
            else:
                value, where = node.text, None
            text = (value or "").strip()
            if text:
                found.append(Found(text, where or self.where(node)))
                if first:
                    break
        return found

    def first(self, context: etree._Element, locator: Locator, base: str = "") -> tuple[Any, str] | None:
        """The first non-empty value at the locator, and where it sits."""
        steps = locator.steps
        if steps is None:
            found = self.codec.read(context, locator.path)
            return (found.value, found.where) if found is not None else None
        node = context
        for tag in steps:
            node = (self.children.get(node) or self.index(node))[0].get(tag)
            if node is None:
                return None
            if node is REPEATED:
                found = self._values(context, locator.path, first=True)
                return (found[0].value, found[0].where) if found else None
        value = node.text if locator.attribute is None else node.get(locator.attribute)
        if not value or not (value := value.strip()):
            return None
        where = self.paths.get(context)
        return value, (where if where is not None else self.where(context)) + locator.suffix

    def every(self, context: etree._Element, locator: Locator, base: str = "") -> list[tuple[Any, str]]:
        """Every non-empty value at the locator, in document order."""
        if locator.steps is None:
            return [(f.value, f.where) for f in self.codec.read_all(context, locator.path)]
        attribute, suffix = locator.attribute, locator.attribute_suffix
        found = []
        for node, where in self._located(context, locator):
            value = node.text if attribute is None else node.get(attribute)
            if value and (value := value.strip()):
                found.append((value, where + suffix))
        return found

    def elements(self, context: etree._Element, locator: Locator, base: str = "") -> list[tuple[Any, str]]:
        """The elements at the locator (a repeated element's items), and where each sits."""
        if locator.steps is None or locator.attribute is not None:
            return [(f.value, f.where) for f in self.codec.items(context, locator.path)]
        return self._located(context, locator)

    def reach(self, context: etree._Element, steps: tuple[str, ...]
              ) -> list[tuple[etree._Element, tuple[int, ...]]]:
        """Every element the steps reach from ``context``, in document order, with its position
        among the siblings of its tag at each step (0 where the tag does not repeat)."""
        found: list[tuple[etree._Element, tuple[int, ...]]] = [(context, ())]
        children = self.children
        last = len(steps) - 1
        for step, tag in enumerate(steps):
            reached: list[tuple[etree._Element, tuple[int, ...]]] = []
            for node, positions in found:
                indexed = children.get(node)
                if indexed is None and step == last:
                    # the items themselves: the children with the tag, matched by lxml without
                    # indexing the node (a rule that looks among its children indexes it then)
                    group = list(node.iterchildren(tag))
                    if len(group) == 1:
                        reached.append((group[0], (*positions, 0)))
                    elif group:
                        reached += [(child, (*positions, position))
                                    for position, child in enumerate(group, 1)]
                    continue
                firsts, repeats = indexed or self.index(node)
                child = firsts.get(tag)
                if child is None:
                    continue
                if child is REPEATED:
                    reached += [(child, (*positions, position))
                                for position, child in enumerate(repeats[tag], 1)]
                else:
                    reached.append((child, (*positions, 0)))
            found = reached
            if not found:
                break
        return found

    def _located(self, context: etree._Element, locator: Locator) -> list[tuple[Any, str]]:
        """Every element the locator's steps reach from ``context``, with where each sits (a
        position where its tag repeats), remembered for the fields read inside it."""
        where = self.paths.get(context)
        found = [(context, where if where is not None else self.where(context))]
        remember = self.paths
        for tag, local in zip(locator.steps or (), locator.locals, strict=True):
            reached = []
            for node, node_where in found:
                firsts, repeats = self.children.get(node) or self.index(node)
                child = firsts.get(tag)
                if child is None:
                    continue
                if child is not REPEATED:
                    remember[child] = child_where = f"{node_where}/{local}"
                    reached.append((child, child_where))
                    continue
                for position, child in enumerate(repeats[tag], 1):
                    remember[child] = child_where = f"{node_where}/{local}[{position}]"
                    reached.append((child, child_where))
            found = reached
            if not found:
                break
        return found

    def read(self, context: etree._Element, path: str, base: str = "") -> Found | None:
        found = self._values(context, path, first=True)
        return found[0] if found else None

    def read_all(self, context: etree._Element, path: str, base: str = "") -> list[Found]:
        return self._values(context, path, first=False)

    def items(self, context: etree._Element, path: str, base: str = "") -> list[Found]:
        simple = self.codec.simple(path)
        if simple is None or simple[1] is not None:
            return self.codec.items(context, path)
        return [Found(node, self.where(node)) for node in self._walk(context, simple[0])]


class XmlCodec:
    def __init__(self, namespaces: dict[str, str]):
        self.namespaces = namespaces
        self._compiled: dict[str, etree.XPath] = {}
        self._simple: dict[str, tuple[tuple[str, ...], str | None] | None] = {}

    def reader(self, document: etree._Element) -> XmlReader:
        return XmlReader(self, document)

    def locate(self, path: str) -> Locator:
        """``path`` compiled for ``XmlReader``: plain steps when it has only those, else XPath."""
        simple = self.simple(path)
        if simple is None:
            self._xpath(path)
            return Locator(path, None, None, "")
        steps, attribute = simple
        names = tuple(etree.QName(step).localname for step in steps)
        attribute_suffix = f"/@{etree.QName(attribute).localname}" if attribute is not None else ""
        return Locator(path, steps, attribute, "".join(f"/{name}" for name in names) + attribute_suffix,
                       names, attribute_suffix)

    def simple(self, path: str) -> tuple[tuple[str, ...], str | None] | None:
        """A path of plain steps (and a last ``@attr``) as qualified names, else None."""
        if path not in self._simple:
            steps = path.split("/")
            attribute = self._qname(steps.pop()[1:]) if steps and steps[-1].startswith("@") else None
            if steps == ["."]:
                steps = []
            plain = all(_SIMPLE_STEP.match(step) for step in steps)
            self._simple[path] = (tuple(self._qname(s) for s in steps), attribute) if plain else None
        return self._simple[path]

    def _xpath(self, path: str) -> etree.XPath:
        """Compiled once per codec: a spec's paths are evaluated for every message."""
        compiled = self._compiled.get(path)
        if compiled is None:
            compiled = self._compiled[path] = etree.XPath(path, namespaces=self.namespaces)
        return compiled

    def new_document(self, root: str) -> etree._Element:
        return etree.Element(self._qname(root), nsmap={
            (None if i == 0 else p): uri for i, (p, uri) in enumerate(self.namespaces.items())
        } if self.namespaces else None)

    def root_name(self, root: str) -> str:
        return self._qname(root)

    def read(self, context: etree._Element, path: str, base: str = "") -> Found | None:
        found = self._xpath(path)(context)
        if isinstance(found, list):
            if not found:
                return None
            found = found[0]
        return self._found(context, path, found)

    def read_all(self, context: etree._Element, path: str, base: str = "") -> list[Found]:
        """Every non-empty value at ``path``, in document order."""
        found = self._xpath(path)(context)
        nodes = found if isinstance(found, list) else [found]
        return [value for node in nodes if (value := self._found(context, path, node)) is not None]

    @staticmethod
    def _found(context: etree._Element, path: str, found: Any) -> Found | None:
        if isinstance(found, etree._Element):
            text = (found.text or "").strip()
            return Found(text, describe(found)) if text else None
        if isinstance(found, str):
            text = found.strip()
            where = describe(found.getparent()) + f"/@{found.attrname}" \
                if getattr(found, "is_attribute", False) else describe(context) + f"/{path}"
            return Found(text, where) if text else None
        return None

    def items(self, context: etree._Element, path: str, base: str = "") -> list[Found]:
        """The elements at ``path``, each with where it sits (XML paths are absolute)."""
        return [Found(node, describe(node)) for node in self._xpath(path)(context)
                if isinstance(node, etree._Element)]

    def write(self, context: etree._Element, path: str, value: Any) -> str:
        *parents, last = split_steps(path, "/")
        node = context
        for step in parents:
            node = self._child(node, step, create_new=False)
        text = _text(value)
        if last == ".":
            node.text = text
            return describe(node)
        match = _XML_STEP.match(last)
        if match is None:
            raise PathError(f"cannot write to {path!r}")
        if match["attr"]:
            node.set(self._qname(last[1:]), text)
            return describe(node) + f"/@{match['name']}"
        leaf = self._child(node, last, create_new=False)
        leaf.text = text
        return describe(leaf)

    def new_item(self, context: etree._Element, path: str) -> etree._Element:
        *parents, last = split_steps(path, "/")
        node = context
        for step in parents:
            node = self._child(node, step, create_new=False)
        return self._child(node, last, create_new=True)

    def append(self, context: etree._Element, path: str, value: Any) -> str:
        """A new element at ``path`` holding ``value``: one of a repeated element's values."""
        leaf = self.new_item(context, path)
        leaf.text = _text(value)
        return describe(leaf)

    def _child(self, node: etree._Element, step: str, create_new: bool) -> etree._Element:
        if step == ".":
            return node
        match = _XML_STEP.match(step)
        if match is None or match["attr"]:
            raise PathError(f"cannot build the step {step!r}")
        tag = self._qname(f"{match['prefix']}:{match['name']}" if match["prefix"] else match["name"])
        attributes = dict(_XML_PREDICATE.findall(match["predicates"] or ""))
        if not create_new:
            for child in node.iterchildren(tag):
                if all(child.get(k) == v for k, v in attributes.items()):
                    return child
        return etree.SubElement(node, tag, attributes)

    def _qname(self, name: str) -> str:
        prefix, sep, local = name.rpartition(":")
        if not sep:
            return local
        try:
            return f"{{{self.namespaces[prefix]}}}{local}"
        except KeyError:
            raise PathError(f"unknown namespace prefix {prefix!r}") from None


def describe(node: etree._Element) -> str:
    """``/episode/tacMembers/member[2]/name``: local names, with a position where it repeats."""
    if node.getparent() is None and isinstance(node.tag, str):
        return "/" + node.tag.rpartition("}")[2]
    tree = node.getroottree()
    root = etree.QName(tree.getroot()).localname
    relative = tree.getelementpath(node)
    if relative == ".":
        return f"/{root}"
    return f"/{root}/" + _NAMESPACE.sub("", relative)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class JsonCodec:
    def new_document(self) -> dict[str, Any]:
        return {}

    def reader(self, document: dict[str, Any]) -> JsonCodec:
        return self

    def read(self, context: Any, path: str, base: str = "") -> Found | None:
        found = self._node(context, split_steps(path, "."), base)
        if found is None:
            return None
        node, trail = found
        if node is None or node == "" or isinstance(node, dict | list):
            return None
        return Found(node, trail)

    def read_all(self, context: Any, path: str, base: str = "") -> list[Found]:
        """Every non-empty plain value of the list at ``path``."""
        *parents, last = split_steps(path, ".")
        found = self._node(context, parents, base)
        if found is None:
            return []
        node, trail = found
        if not isinstance(node, dict) or not isinstance(node.get(last), list):
            return []
        where = f"{trail}.{last}" if trail else last
        return [Found(value, f"{where}[{index}]") for index, value in enumerate(node[last])
                if value not in (None, "") and not isinstance(value, dict | list)]

    @staticmethod
    def _node(context: Any, steps: list[str], where: str) -> tuple[Any, str] | None:
        """The value the steps lead to, and its path; list-item steps pick the first match."""
        node, trail = context, where
        for text in steps:
            step = _json_step(text)
            if not isinstance(node, dict) or step.key not in node:
                return None
            node, trail = node[step.key], f"{trail}.{step.key}" if trail else step.key
            if step.selects:
                if not isinstance(node, list):
                    return None
                matches = step.positions(node)
                if not matches:
                    return None
                node, trail = node[matches[0]], f"{trail}[{matches[0]}]"
        return node, trail

    def items(self, context: Any, path: str, base: str = "") -> list[Found]:
        """The objects of the list at ``path`` (a selecting last step keeps the items it picks),
        each with its full path in the document, ``base`` being the path of ``context``."""
        *parents, last = split_steps(path, ".")
        found = self._node(context, parents, base)
        step = _json_step(last)
        if found is None or not isinstance(found[0], dict):
            return []
        node, trail = found[0].get(step.key), f"{found[1]}.{step.key}" if found[1] else step.key
        if not isinstance(node, list):
            return []
        positions = step.positions(node) if step.selects else range(len(node))
        return [Found(node[i], f"{trail}[{i}]") for i in positions if isinstance(node[i], dict)]

    def write(self, context: dict[str, Any], path: str, value: Any) -> str:
        *parents, last = split_steps(path, ".")
        node, trail = context, ""
        for step in parents:
            node, trail = self._child(node, step, trail)
        step = _json_step(last)
        where = f"{trail}.{step.key}" if trail else step.key
        if step.index is not None:
            values = node.setdefault(step.key, [])
            _fill(values, step.index, value, path)
            return f"{where}[{step.index}]"
        if step.field is not None:
            raise PathError(f"the last step of {path!r} cannot select a list item by a field")
        node[step.key] = value
        return where

    def new_item(self, context: dict[str, Any], path: str) -> dict[str, Any]:
        *parents, last = split_steps(path, ".")
        node, trail = context, ""
        for step in parents:
            node, trail = self._child(node, step, trail)
        item: dict[str, Any] = {}
        node.setdefault(last, []).append(item)
        return item

    def append(self, context: dict[str, Any], path: str, value: Any) -> str:
        """``value`` added to the list at ``path``: one of a repeated element's values."""
        *parents, last = split_steps(path, ".")
        node, trail = context, ""
        for step in parents:
            node, trail = self._child(node, step, trail)
        values = node.setdefault(last, [])
        values.append(value)
        return f"{trail}.{last}[{len(values) - 1}]" if trail else f"{last}[{len(values) - 1}]"

    @staticmethod
    def _child(node: dict[str, Any], step: str, trail: str) -> tuple[dict[str, Any], str]:
        parsed = _json_step(step)
        trail = f"{trail}.{parsed.key}" if trail else parsed.key
        if not parsed.selects:
            return node.setdefault(parsed.key, {}), trail
        items = node.setdefault(parsed.key, [])
        matches = parsed.positions(items)
        if matches:
            return items[matches[0]], f"{trail}[{matches[0]}]"
        if parsed.index is not None:
            _fill(items, parsed.index, {}, step)
            return items[parsed.index], f"{trail}[{parsed.index}]"
        item: dict[str, Any] = {}
        _put(item, parsed.field or "", parsed.value)
        items.append(item)
        return item, f"{trail}[{len(items) - 1}]"


@dataclass(frozen=True)
class _JsonStep:
    """``key``, ``key[field=value]`` (``field`` may be dotted) or ``key[index]``."""

    key: str
    field: str | None = None
    value: str | None = None
    index: int | None = None

    @property
    def selects(self) -> bool:
        return self.field is not None or self.index is not None

    def positions(self, items: list[Any]) -> list[int]:
        """The positions of the list items this step picks."""
        if self.index is not None:
            return [self.index] if self.index < len(items) else []
        return [i for i, item in enumerate(items) if _get(item, self.field or "") == self.value]


def _json_step(step: str) -> _JsonStep:
    match = _JSON_STEP.match(step)
    if match is None:
        raise PathError(f"cannot read the step {step!r}")
    index = match["index"]
    return _JsonStep(match["key"], match["field"], match["value"],
                     int(index) if index is not None else None)


def _get(item: Any, field: str) -> str | None:
    """The plain value at the dotted ``field`` inside a list item, as text."""
    for key in field.split("."):
        if not isinstance(item, dict) or key not in item:
            return None
        item = item[key]
    return None if item is None or isinstance(item, dict | list) else str(item)


def _put(item: dict[str, Any], field: str, value: Any) -> None:
    *parents, last = field.split(".")
    for key in parents:
        item = item.setdefault(key, {})
    item[last] = value


def _fill(values: list[Any], index: int, value: Any, path: str) -> None:
    """Put ``value`` at ``index``: replace an item, or add the next one; never leave a gap."""
    if index < len(values):
        values[index] = value
    elif index == len(values):
        values.append(value)
    else:
        raise PathError(f"{path!r}: position {index} would leave a gap in a list of {len(values)}")
