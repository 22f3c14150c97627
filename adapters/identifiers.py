"""Checks of national child identifiers at the edge, with python-stdnum (never hand-written).

NHS number: 10 digits with a modulus-11 check digit. UPN: a check letter, an LA number that
exists, digits, and a final digit (or letter for a temporary UPN).
"""

from __future__ import annotations

import re

from stdnum.exceptions import ValidationError
from stdnum.gb import nhs, upn

from adapters.rejection import InputRejected


def _rule(error: ValidationError) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__).lower()


def check_nhs_number(value: str | None, field: str) -> None:
    if value is None:
        return
    try:
        nhs.validate(value)
    except ValidationError as error:
        raise InputRejected(422, f"identifier.nhs-number.{_rule(error)}", error.message, field) from None


def check_upn(value: str | None, field: str) -> None:
    if value is None:
        return
    try:
        upn.validate(value)
    except ValidationError as error:
        raise InputRejected(422, f"identifier.upn.{_rule(error)}", error.message, field) from None
