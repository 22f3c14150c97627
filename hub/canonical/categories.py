"""Data categories: every canonical field says what kind of information about a child it holds.

Destinations declare the categories they may receive (see ``consent.profiles``); the category
is attached to the field itself so that no renderer can forget to ask.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, get_args, get_origin

from pydantic import BaseModel, Field

CATEGORY_KEY = "x-data-category"


class DataCategory(StrEnum):
    IDENTITY = "identity"  # who the child is: names, date of birth, gender, identifiers
    CONTACT = "contact"  # where the child or a practitioner can be reached
    CARER = "carer"  # parents and carers, with their contact details
    INVOLVEMENT = "involvement"  # who works with the child: services, practitioners, dates
    CASE = "case"  # assessments, plans, referral reasons, closure summaries
    SENSITIVE = "sensitive"  # special category data and sensitive services


def categorised(category: DataCategory, default: Any = ..., **kwargs: Any) -> Any:
    """A pydantic ``Field`` labelled with its data category."""
    return Field(default, json_schema_extra={CATEGORY_KEY: category.value}, **kwargs)


def category_of(model: type[BaseModel], field_name: str) -> DataCategory | None:
    extra = model.model_fields[field_name].json_schema_extra
    if isinstance(extra, dict) and CATEGORY_KEY in extra:
        return DataCategory(str(extra[CATEGORY_KEY]))
    return None


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The canonical model inside ``Model``, ``Model | None`` or ``list[Model]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            found = nested_model(arg)
            if found is not None:
                return found
    return None


def field_categories(model: type[BaseModel], prefix: str = "") -> dict[str, DataCategory | None]:
    """Every field path of a model (nested models included) with its category."""
    found: dict[str, DataCategory | None] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        found[path] = category_of(model, name)
        inner = nested_model(info.annotation)
        if inner is not None:
            found.update(field_categories(inner, prefix=f"{path}."))
    return found
