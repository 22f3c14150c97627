"""Reading and writing values at paths in the two kinds of wire document: XML and JSON.

XML paths are XPath when reading. When writing, a path is a simple location the codec can build:
steps ``prefix:name``, optionally with ``[@attr='value']`` predicates, and a final ``@attr``; ``.``
is the element in hand. JSON paths are dotted keys, and a step ``key[field=value]`` picks (or, when
writing, adds) the list item whose ``field`` equals ``value``, as FHIR identifiers need.
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
_JSON_STEP = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<field>[^=\]]+)=(?P<value>[^\]]*)\])?$")


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


class XmlCodec:
    def __init__(self, namespaces: dict[str, str]):
        self.namespaces = namespaces
        self._compiled: dict[str, etree.XPath] = {}

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

    def read(self, context: etree._Element, path: str) -> Found | None:
        found = self._xpath(path)(context)
        if isinstance(found, list):
            if not found:
                return None
            found = found[0]
        return self._found(context, path, found)

    def read_all(self, context: etree._Element, path: str) -> list[Found]:
        """Every non-empty value at ``path``, in document order."""
        found = context.xpath(path, namespaces=self.namespaces)
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

    @staticmethod
    def item_where(path: str, node: etree._Element, position: int) -> str:
        """Where one of the items ``items`` found sits in the document."""
        return describe(node)

    def items(self, context: etree._Element, path: str) -> list[etree._Element]:
        return [node for node in self._xpath(path)(context) if isinstance(node, etree._Element)]

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
    parts = []
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [n for n in parent.iterchildren(node.tag)]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class JsonCodec:
    def new_document(self) -> dict[str, Any]:
        return {}

    def read(self, context: Any, path: str, where: str = "") -> Found | None:
        found = self._node(context, split_steps(path, "."), where)
        if found is None:
            return None
        node, trail = found
        if node is None or node == "" or isinstance(node, dict | list):
            return None
        return Found(node, trail)

    def read_all(self, context: Any, path: str) -> list[Found]:
        """Every non-empty plain value of the list at ``path``."""
        *parents, last = split_steps(path, ".")
        found = self._node(context, parents, "")
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
        for step in steps:
            key, field, value = _json_step(step)
            if not isinstance(node, dict) or key not in node:
                return None
            node, trail = node[key], f"{trail}.{key}" if trail else key
            if field is not None:
                if not isinstance(node, list):
                    return None
                matches = [i for i, item in enumerate(node)
                           if isinstance(item, dict) and str(item.get(field)) == value]
                if not matches:
                    return None
                node, trail = node[matches[0]], f"{trail}[{matches[0]}]"
        return node, trail

    @staticmethod
    def item_where(path: str, node: dict[str, Any], position: int) -> str:
        """Where one of the items ``items`` found sits in the document (relative to its context)."""
        return f"{path}[{position}]"

    def items(self, context: Any, path: str) -> list[dict[str, Any]]:
        node = context
        for step in split_steps(path, "."):
            key, field, value = _json_step(step)
            if not isinstance(node, dict) or key not in node:
                return []
            node = node[key]
            if field is not None:
                node = [i for i in node if isinstance(i, dict) and str(i.get(field)) == value]
        return [item for item in node if isinstance(item, dict)] if isinstance(node, list) else []

    def write(self, context: dict[str, Any], path: str, value: Any) -> str:
        *parents, last = split_steps(path, ".")
        node, trail = context, ""
        for step in parents:
            node, trail = self._child(node, step, trail)
        key, field, match = _json_step(last)
        if field is not None:
            raise PathError(f"the last step of {path!r} cannot select a list item")
        node[key] = value
        return f"{trail}.{key}" if trail else key

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
        key, field, value = _json_step(step)
        trail = f"{trail}.{key}" if trail else key
        if field is None:
            return node.setdefault(key, {}), trail
        items = node.setdefault(key, [])
        for index, item in enumerate(items):
            if str(item.get(field)) == value:
                return item, f"{trail}[{index}]"
        items.append({field: value})
        return items[-1], f"{trail}[{len(items) - 1}]"


def _json_step(step: str) -> tuple[str, str | None, str | None]:
    match = _JSON_STEP.match(step)
    if match is None:
        raise PathError(f"cannot read the step {step!r}")
    return match["key"], match["field"], match["value"]
