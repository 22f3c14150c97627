"""The one error an adapter raises for input it will not accept: which field, which rule, why."""

from __future__ import annotations


class InputRejected(Exception):
    """Bad input. ``status`` is the HTTP status the sender gets; the raw body goes to quarantine."""

    def __init__(self, status: int, rule: str, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status = status
        self.rule = rule
        self.detail = detail
        self.field = field
