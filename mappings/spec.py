"""The schema of mapping specs, code lists and authority overrides (pydantic, validated on load)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.canonical import Purpose


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(Strict):
    """Apply a rule only when a canonical field is (or is not) present or has a given value."""

    canonical: str
    equals: Any = None
    not_equals: Any = None
    present: bool | None = None


class Rule(Strict):
    """One field: a path in the system's format paired with a canonical field.

    ``each`` makes a repeated element: ``wire`` names the element that repeats, ``canonical`` the
    list field, and the nested rules map each item, with paths relative to it. ``select`` keeps
    to the items it holds for (tested on the item), so several ``each`` rules can place one list's
    items in different wire elements; parsing gathers their items in rule order and gives each
    the ``equals`` value of the ``select``. ``repeated`` makes a wire element repeat once per
    value of a list of plain values (codes, names, lines of an address).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    wire: str
    canonical: str | list[str] | None = None
    transform: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    code_list: str | None = None
    default: Any = None
    required: bool = False
    when: Condition | None = None
    direction: Literal["both", "inbound", "outbound"] = "both"
    each: list[Rule] | None = None
    select: Condition | None = None
    repeated: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        if self.canonical is None and self.default is None:
            raise ValueError(f"rule {self.id}: needs a canonical field or a default")
        if isinstance(self.canonical, list) and self.transform != "join":
            raise ValueError(f"rule {self.id}: several canonical fields need the join transform")
        if self.each is not None and not isinstance(self.canonical, str):
            raise ValueError(f"rule {self.id}: a repeated element maps to one list field")
        if self.select is not None and self.each is None:
            raise ValueError(f"rule {self.id}: select picks items of a repeated element (each)")
        if self.repeated and (self.each is not None or not isinstance(self.canonical, str)
                              or self.default is not None):
            raise ValueError(f"rule {self.id}: repeated maps one list of plain values, "
                             "without each or a default")
        return self

    def canonical_paths(self) -> list[str]:
        if self.canonical is None:
            return []
        return self.canonical if isinstance(self.canonical, list) else [self.canonical]


class Header(Strict):
    """Where the message's own id, time and correlation id sit in the system's format."""

    message_id: str
    sent_at: str
    correlation_id: str | None = None
    version: str | None = None


class MappingSpec(Strict):
    id: str
    version: str
    description: str
    kind: str
    profile: str = "standard"
    message_type: str
    direction: Literal["inbound", "outbound", "both"] = Field(
        "both", description="inbound: the system sends it to the hub; outbound: the hub sends it"
    )
    endpoint: str = Field("/messages", description="Path under the system's URL to deliver to")
    format: Literal["xml", "json"]
    namespaces: dict[str, str] = Field(default_factory=dict)
    root: str | None = None
    match: dict[str, str] = Field(default_factory=dict)
    schema_file: str | None = Field(None, alias="schema")
    purpose: Purpose
    header: Header
    rules: list[Rule]

    @model_validator(mode="after")
    def _format_needs(self) -> MappingSpec:
        if self.format == "xml" and not self.root:
            raise ValueError(f"{self.id}: an XML format names its root element")
        if self.format == "json" and not self.match:
            raise ValueError(f"{self.id}: a JSON format says how its messages are recognised (match)")
        ids = [rule.id for rule in walk(self.rules)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"{self.id}: rule ids must be unique: {', '.join(duplicates)}")
        return self

    def code_lists(self) -> set[str]:
        return {rule.code_list for rule in walk(self.rules) if rule.code_list}


class Override(Strict):
    """An authority's changes to a base spec: rules replaced or added by id, rules removed."""

    version: str
    description: str = ""
    rules: list[Rule] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class CodeList(Strict):
    """Canonical codes and the codes a system uses for them, one to one."""

    id: str
    version: str
    description: str = ""
    entries: dict[str, str]
    remove: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_to_one(self) -> CodeList:
        wire = list(self.entries.values())
        clashes = sorted({code for code in wire if wire.count(code) > 1})
        if clashes:
            raise ValueError(f"code list {self.id}: wire codes used twice: {', '.join(clashes)}")
        return self


def walk(rules: list[Rule]):  # type: ignore[no-untyped-def]
    """Every rule, nested ones included."""
    for rule in rules:
        yield rule
        if rule.each:
            yield from walk(rule.each)
