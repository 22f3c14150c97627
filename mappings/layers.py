"""Loading mapping layers: the base shipped with the hub, and an authority's override directory.

Layout (the same under both roots):
  specs/<kind>/<profile>/<message-type>.yaml   a whole spec (base), or an ``Override`` of one
  code_lists/<id>.yaml                         a code list, or entries that replace the base's
An override file may also be a whole spec, for a profile the base does not ship (a local eCAF).
Every effective spec is checked on load: its transforms and code lists exist, its canonical
fields exist on the event, and no rule that renders puts a field of a category the system's kind
may not receive. A failing check names the file and the rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from consent.profiles import allowed_categories
from hub.canonical import field_categories
from hub.canonical.events import EVENT_TYPES
from mappings.engine import EffectiveSpec
from mappings.spec import CodeList, MappingSpec, Override, Rule
from mappings.transforms import TRANSFORMS

BASE_DIR = Path(__file__).parent / "base"
GOLDEN_DIR = Path(__file__).parent / "golden"


class SpecError(ValueError):
    """A mapping layer that cannot be used; the message names the file and the rule."""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a mapping file holds a YAML mapping")
    return data


def _model(model, data: dict[str, Any], path: Path):  # type: ignore[no-untyped-def]
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"{path}: {where}: {first['msg']}") from None


def spec_files(root: Path | None) -> dict[str, Path]:
    """``kind/profile/message-type`` -> file, for one layer."""
    if root is None or not (root / "specs").is_dir():
        return {}
    return {
        str(path.relative_to(root / "specs").with_suffix("")): path
        for path in sorted((root / "specs").glob("*/*/*.yaml"))
    }


def code_list_files(root: Path | None) -> dict[str, Path]:
    if root is None or not (root / "code_lists").is_dir():
        return {}
    return {path.stem: path for path in sorted((root / "code_lists").glob("*.yaml"))}


def load_code_lists(base: Path, override: Path | None) -> dict[str, CodeList]:
    lists = {key: _model(CodeList, _read_yaml(path), path) for key, path in code_list_files(base).items()}
    for key, path in code_list_files(override).items():
        local = _model(CodeList, _read_yaml(path), path)
        if key in lists:
            entries = {**lists[key].entries, **local.entries}
            for code in local.remove:
                entries.pop(code, None)
            local = _model(CodeList, {
                "id": key, "version": f"{lists[key].version}+{local.version}",
                "description": lists[key].description, "entries": entries,
            }, path)
        lists[key] = local
    return lists


def merge(base: MappingSpec, override: Override, path: Path) -> MappingSpec:
    """Rules replaced (same id) or appended (new id), listed ids removed, at any depth."""
    replacements = {rule.id: rule for rule in override.rules}
    unknown = set(override.remove) - {rule.id for rule in _all(base.rules)}
    if unknown:
        raise SpecError(f"{path}: removes rules the base does not have: {', '.join(sorted(unknown))}")

    def apply(rules: list[Rule]) -> list[Rule]:
        kept = []
        for rule in rules:
            if rule.id in override.remove:
                continue
            rule = replacements.pop(rule.id, rule)
            if rule.each is not None:
                rule = rule.model_copy(update={"each": apply(rule.each)})
            kept.append(rule)
        return kept

    rules = apply(base.rules)
    rules.extend(replacements.values())
    return base.model_copy(update={"rules": rules, "version": f"{base.version}+{override.version}"})


def _all(rules: list[Rule]) -> list[Rule]:
    found = []
    for rule in rules:
        found.append(rule)
        if rule.each:
            found.extend(_all(rule.each))
    return found


def validate(spec: MappingSpec, code_lists: dict[str, CodeList], path: Path) -> None:
    event = EVENT_TYPES.get(spec.message_type)
    if event is None:
        raise SpecError(f"{path}: unknown message type {spec.message_type!r}")
    categories = field_categories(event)
    allowed = allowed_categories(spec.kind)

    def check(rules: list[Rule], prefix: str) -> None:
        for rule in rules:
            if rule.transform and rule.transform not in TRANSFORMS:
                raise SpecError(f"{path}: rule {rule.id}: unknown transform {rule.transform!r}")
            if rule.code_list and rule.code_list not in code_lists:
                raise SpecError(f"{path}: rule {rule.id}: unknown code list {rule.code_list!r}")
            for canonical in rule.canonical_paths():
                full = f"{prefix}{canonical}"
                if full not in categories:
                    raise SpecError(f"{path}: rule {rule.id}: {spec.message_type} has no field {full}")
                category = categories[full]
                if rule.direction != "inbound" and category not in allowed:
                    raise SpecError(
                        f"{path}: rule {rule.id} would send {full} ({category.value} data) to a "
                        f"{spec.kind}, which may receive only "
                        f"{', '.join(sorted(c.value for c in allowed)) or 'nothing'}"
                    )
            if rule.select is not None and \
                    f"{prefix}{rule.canonical}.{rule.select.canonical}" not in categories:
                raise SpecError(f"{path}: rule {rule.id}: the items of {prefix}{rule.canonical} "
                                f"have no field {rule.select.canonical}")
            if rule.each is not None:
                check(rule.each, f"{prefix}{rule.canonical}.")

    check(spec.rules, "")


def load_effective(base: Path, override: Path | None) -> dict[str, EffectiveSpec]:
    """Every effective spec, keyed ``kind/profile/message-type``."""
    code_lists = load_code_lists(base, override)
    base_files, override_files = spec_files(base), spec_files(override)
    effective: dict[str, EffectiveSpec] = {}
    for key in sorted(set(base_files) | set(override_files)):
        layers: list[Path] = []
        if key in base_files:
            spec = _model(MappingSpec, _read_yaml(base_files[key]), base_files[key])
            layers.append(base_files[key])
            if key in override_files:
                path = override_files[key]
                spec = merge(spec, _model(Override, _read_yaml(path), path), path)
                layers.append(path)
        else:
            path = override_files[key]
            spec = _model(MappingSpec, _read_yaml(path), path)
            layers.append(path)
        expected = f"{spec.kind}/{spec.profile}/{spec.message_type}"
        if expected != key:
            raise SpecError(f"{layers[-1]}: a spec for {expected} must live at specs/{expected}.yaml")
        validate(spec, code_lists, layers[-1])
        effective[key] = EffectiveSpec(
            spec=spec, code_lists={k: code_lists[k] for k in spec.code_lists()},
            version=spec.version, layers=tuple(str(p) for p in layers),
        )
    return effective
