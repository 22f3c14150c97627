"""Every golden case of every shipped mapping: parse to canonical, render back, refuse the invalid."""

from __future__ import annotations

import pytest

from mappings.golden import cases, run_case
from mappings.layers import GOLDEN_DIR
from mappings.registry import MappingRegistry

REGISTRY = MappingRegistry()
CASES = cases(GOLDEN_DIR)


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(GOLDEN_DIR)) for c in CASES])
def test_golden_case(case):
    result = run_case(case, REGISTRY, GOLDEN_DIR)

    assert result.passed, "\n".join(result.problems)


def test_every_shipped_mapping_has_a_valid_golden_case():
    covered = {str(c.relative_to(GOLDEN_DIR).parent) for c in CASES if (c / "canonical.json").exists()}

    assert set(REGISTRY.all()) <= covered, sorted(set(REGISTRY.all()) - covered)
