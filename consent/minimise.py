"""Data minimisation: keep only the fields of a canonical model whose category is allowed.

Works on the model's own field categories, never on a list of names a renderer chose, and
reports exactly which field paths were kept and which were withheld.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from hub.canonical import DataCategory
from hub.canonical.categories import category_of


@dataclass
class Minimised:
    data: dict[str, Any]
    shared: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def minimise(model: BaseModel, allowed: frozenset[DataCategory]) -> Minimised:
    result = Minimised(data={})
    result.data = _keep(model, allowed, "", result)
    return result


def _keep(model: BaseModel, allowed: frozenset[DataCategory], prefix: str, out: Minimised) -> dict:
    kept: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if value is None or value == [] or value == {}:
            continue
        if category_of(type(model), name) not in allowed:
            out.withheld.append(path)
            continue
        if isinstance(value, BaseModel):
            inner = _keep(value, allowed, f"{path}.", out)
            if inner:
                kept[name] = inner
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            items = [kept_item for item in value if (kept_item := _keep(item, allowed, f"{path}.", out))]
            if items:
                kept[name] = items
        else:
            kept[name] = _plain(value)
            out.shared.append(path)
    return kept


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value
