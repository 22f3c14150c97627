"""Personal data on console pages: masked by default, shown only after an audited reveal.

A canonical message is shown as its fields, each with its data category. Values of the
identity, contact, carer, case and sensitive categories are masked unless revealed; involvement
fields (which service, which practitioner, when) stay visible so an operator can follow where a
message went, except in a message about a sensitive service, where everything is masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from hub.canonical import DataCategory
from hub.canonical.categories import field_categories

MASK = "•"
VISIBLE = frozenset({DataCategory.INVOLVEMENT})
_INDEX = re.compile(r"\[\d+\]")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def mask(value: Any) -> str:
    """Keep the shape, not the content: the first character of a word, the rest dotted."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return MASK
    if isinstance(value, date | datetime):
        return "••••-••-••"
    text = str(value)
    if _DATE.match(text):
        return "••••-••-••"
    return re.sub(r"(?<=\w)\w", MASK, text) if len(text) > 1 else MASK


@dataclass(frozen=True)
class Field:
    path: str
    category: str | None
    value: str
    masked: bool


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items()
                for leaf in _leaves(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}[{i}]")]
    return [(path, value)]


def fields_of(payload: BaseModel, revealed: bool) -> list[Field]:
    """Every filled-in field of a canonical event, masked unless ``revealed``."""
    categories = field_categories(type(payload))
    leaves = [(p, v) for p, v in _leaves(payload.model_dump(mode="json")) if v not in (None, "", [])]
    sensitive = any(p.endswith("sensitive") and v is True for p, v in leaves)
    shown = []
    for path, value in leaves:
        category = _category(categories, path)
        hidden = (not revealed and path != "event_type"
                  and (sensitive or category is None or DataCategory(category) not in VISIBLE))
        shown.append(Field(path, category, mask(value) if hidden else _text(value), hidden))
    return shown


def _category(categories: dict[str, DataCategory | None], path: str) -> str | None:
    """The category of a leaf: its own, or the nearest enclosing field's."""
    plain = _INDEX.sub("", path)
    while plain:
        category = categories.get(plain)
        if category is not None:
            return category.value
        plain = plain.rpartition(".")[0]
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
