"""Checks of national child identifiers at the edge, with python-stdnum (never hand-written).

NHS number: 10 digits with a modulus-11 check digit. UPN: a check letter, an LA number that
exists, digits, and a final digit (or letter for a temporary UPN).
"""

from __future__ import annotations

import re
from types import ModuleType

from stdnum.exceptions import ValidationError
from stdnum.gb import nhs, upn

from adapters.rejection import InputRejected


def _check(scheme: ModuleType, name: str, value: str | None, field: str) -> None:
    if value is None:
        return
    try:
        scheme.validate(value)
    except ValidationError as error:
        problem = re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__).lower()
        raise InputRejected(422, f"identifier.{name}.{problem}", error.message, field) from None


def check_nhs_number(value: str | None, field: str) -> None:
    _check(nhs, "nhs-number", value, field)


def check_upn(value: str | None, field: str) -> None:
    _check(upn, "upn", value, field)
