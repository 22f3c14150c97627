"""Data minimisation: keep only the fields of a canonical model whose category is allowed.

Works on the model's own field categories, never on a list of names a renderer chose, and
reports exactly which field paths were kept and which were withheld, and which data categories
the kept fields belong to (every category along a field's path: a carer's name is carer data as
well as identity). A path filter can withhold more (shielding, existence-only involvements); it
can never let through a disallowed category.

Which fields a model keeps for a set of allowed categories and a filter does not depend on the
values, so it is worked out once per model class, profile and filter, and written out as a small
compiled function: the sharing decision runs on every message for every destination and must
stay cheap.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from hub.canonical import DataCategory
from hub.canonical.categories import category_of

PathFilter = Callable[[str], bool]

SCALAR, MODEL, MODELS, SCALARS = range(4)


@dataclass
class Minimised:
    data: dict[str, Any]
    shared: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Step:
    """What to do with one field: keep it (and how to write it out) or withhold it."""

    name: str
    path: str
    keep: bool
    shape: int
    convert: Callable[[Any], Any] | None
    categories: frozenset[str]
    inner_type: Any


def _iso(value: date) -> str:
    return value.isoformat()


def _enum_value(value: Enum) -> Any:
    return value.value


def _converter(annotation: Any) -> Callable[[Any], Any] | None:
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return _enum_value
        if issubclass(annotation, date):  # datetime is a date too
            return _iso
        if annotation in (str, int, float, bool):
            return None
    literal = get_args(annotation)
    if get_origin(annotation) is not None and all(isinstance(a, str | int | bool) for a in literal):
        return None  # Literal[...]
    return _plain


def _shape(annotation: Any) -> tuple[int, Any]:
    """The field's shape and the type inside it, from its annotation (``X | None`` unwrapped)."""
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = present[0] if len(present) == 1 else Any
    if get_origin(annotation) is list:
        (inner,) = get_args(annotation)
        is_model = isinstance(inner, type) and issubclass(inner, BaseModel)
        return (MODELS if is_model else SCALARS), inner
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return MODEL, annotation
    return SCALAR, annotation


@cache
def _plan(
    model: type[BaseModel], prefix: str, allowed: frozenset[DataCategory], withhold: PathFilter | None,
    above: frozenset[str],
) -> tuple[_Step, ...]:
    """For each field of a model: kept or withheld, its shape, how to write it, its categories."""
    steps = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        category = category_of(model, name)
        keep = category in allowed and not (withhold is not None and withhold(path))
        categories = above | {category.value} if category is not None else above
        shape, inner_type = _shape(info.annotation)
        convert = _converter(inner_type) if shape in (SCALAR, SCALARS) else None
        steps.append(_Step(name, path, keep, shape, convert, categories, inner_type))
    return tuple(steps)


def minimise(
    model: BaseModel, allowed: frozenset[DataCategory], withhold: PathFilter | None = None,
) -> Minimised:
    """The fields of ``model`` in ``allowed`` categories, less any path ``withhold`` says to keep back."""
    shared: list[str] = []
    withheld: list[str] = []
    categories: list[frozenset[str]] = []
    data = _compiled(type(model), "", allowed, withhold, frozenset())(model, shared, withheld, categories)
    return Minimised(data, shared, withheld, set().union(*categories))


Keeper = Callable[[BaseModel, list[str], list[str], list[frozenset[str]]], dict[str, Any]]


@cache
def _compiled(
    model: type[BaseModel], prefix: str, allowed: frozenset[DataCategory], withhold: PathFilter | None,
    above: frozenset[str],
) -> Keeper:
    """The plan for one model, profile and filter written out as straight-line Python, once.

    As ``dataclasses`` does for ``__init__``: the source is made only from the canonical model's
    own field names and the plan, never from message content, and it is compiled once per model,
    profile and filter. A field costs a dictionary read and a test instead of a trip round a loop.
    """
    names: dict[str, Any] = {}
    lines = ["def keep(model, shared, withheld, categories):", "    values = model.__dict__",
             "    kept = {}"]
    for number, step in enumerate(_plan(model, prefix, allowed, withhold, above)):
        name = step.name
        assert name.isidentifier(), name
        lines.append(f"    value = values[{name!r}]")
        present = "value" if step.shape >= MODELS else "value is not None"
        if not step.keep:
            lines += [f"    if {present}:", f"        withheld.append({step.path!r})"]
            continue
        if step.shape in (MODEL, MODELS):
            names[f"inner{number}"] = _compiled(step.inner_type, f"{step.path}.", allowed, withhold,
                                                step.categories)
        names[f"cats{number}"] = step.categories
        names[f"convert{number}"] = step.convert
        lines.append(f"    if {present}:")
        if step.shape == MODEL:
            lines += [f"        nested = inner{number}(value, shared, withheld, categories)",
                      "        if nested:", f"            kept[{name!r}] = nested"]
            continue
        if step.shape == MODELS:
            lines += [f"        items = [n for item in value if (n := inner{number}(item, shared, withheld, "
                      "categories))]", "        if items:", f"            kept[{name!r}] = items"]
            continue
        if step.shape == SCALAR:
            out = "value" if step.convert is None else f"convert{number}(value)"
        else:
            out = "list(value)" if step.convert is None else f"[convert{number}(i) for i in value]"
        lines += [f"        kept[{name!r}] = {out}", f"        shared.append({step.path!r})",
                  f"        categories.append(cats{number})"]
    lines.append("    return kept")
    exec(compile("\n".join(lines), f"<minimise {model.__name__} {prefix or '.'}>", "exec"), names)  # noqa: S102
    return names["keep"]


def _plain(value: Any) -> Any:
    """Any other value as JSON-ready data (a fallback; canonical fields have precise types)."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value
