"""Errors as RFC 9457 problem details: every refusal names the field and the rule."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel

PROBLEM_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str | None
    rule: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []
    quarantine_id: str | None = None


TITLES = {
    400: "Malformed message", 401: "Unknown caller", 403: "Not allowed", 404: "Not found",
    413: "Message too large", 415: "Unsupported media type", 422: "Invalid message",
    503: "Unavailable",
}


def problem(
    status: int, detail: str, rule: str | None = None, field: str | None = None,
    quarantine_id: str | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=TITLES.get(status, "Error"), status=status, detail=detail,
        errors=[FieldError(field=field, rule=rule, message=detail)] if rule else [],
        quarantine_id=quarantine_id,
    )
    return JSONResponse(
        body.model_dump(), status_code=status, media_type=PROBLEM_TYPE, headers=headers,
    )
