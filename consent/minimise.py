"""Data minimisation: keep only the fields of a canonical model whose category is allowed.

Works on the model's own field categories, never on a list of names a renderer chose, and
reports exactly which field paths were kept and which were withheld. A path filter can withhold
more (shielding, existence-only involvements); it can never let through a disallowed category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel

from hub.canonical import DataCategory
from hub.canonical.categories import category_of

PathFilter = Callable[[str], bool]


@dataclass
class Minimised:
    data: dict[str, Any]
    shared: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, DataCategory | None], ...]:
    """Each field of a model with its category, worked out once per model class."""
    return tuple((name, category_of(model, name)) for name in model.model_fields)


def minimise(
    model: BaseModel, allowed: frozenset[DataCategory], withhold: PathFilter | None = None,
) -> Minimised:
    """The fields of ``model`` in ``allowed`` categories, less any path ``withhold`` says to keep back."""
    result = Minimised(data={})
    result.data = _keep(model, allowed, "", result, withhold)
    return result


def _keep(
    model: BaseModel, allowed: frozenset[DataCategory], prefix: str, out: Minimised,
    withhold: PathFilter | None,
) -> dict:
    kept: dict[str, Any] = {}
    for name, category in _fields(type(model)):
        value = getattr(model, name)
        if value is None or value == [] or value == {}:
            continue
        path = f"{prefix}{name}"
        if category not in allowed or (withhold is not None and withhold(path)):
            out.withheld.append(path)
            continue
        if isinstance(value, BaseModel):
            inner = _keep(value, allowed, f"{path}.", out, withhold)
            if inner:
                kept[name] = inner
        elif isinstance(value, list) and isinstance(value[0], BaseModel):
            items = [
                kept_item for item in value
                if (kept_item := _keep(item, allowed, f"{path}.", out, withhold))
            ]
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
