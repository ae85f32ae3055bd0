"""PostgREST's error body and status codes, for the errors the local stack raises and those Postgres raises."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from starlette.responses import Response


class ApiError(Exception):
    """An error with PostgREST's body {code, message, details, hint} and an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, details: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(
            json.dumps(self.body()),
            status_code=self.status,
            media_type="application/json; charset=utf-8",
            headers=headers,
        )


def parse_error(message: str, details: str | None = None) -> ApiError:
    """PGRST100: the query string did not parse."""
    return ApiError(400, "PGRST100", message, details)


def status_for_sqlstate(code: str, authenticated: bool) -> int:
    """The HTTP status PostgREST gives a SQLSTATE (docs: references/errors, HTTP Status Codes)."""
    exact = {"23503": 409, "23505": 409, "25006": 405, "53400": 500, "P0001": 400, "42883": 404, "42P01": 404}
    if code in exact:
        return exact[code]
    if code == "42501":
        return 403 if authenticated else 401
    if code.startswith("PT") and code[2:].isdigit():
        return int(code[2:])
    prefixes = [
        ("08", 503), ("09", 500), ("0L", 403), ("0P", 403), ("25", 500), ("28", 403), ("2D", 500),
        ("38", 500), ("39", 500), ("3B", 500), ("40", 500), ("53", 503), ("54", 413), ("55", 500),
        ("57", 500), ("58", 500), ("F0", 500), ("HV", 500), ("P0", 500), ("XX", 500),
    ]
    for prefix, status in prefixes:
        if code.startswith(prefix):
            return status
    return 400


def from_postgres(exc: psycopg.Error, authenticated: bool) -> ApiError:
    """A Postgres error as PostgREST forwards it: SQLSTATE, message, detail and hint."""
    diag = exc.diag
    code = diag.sqlstate or "XX000"
    message = diag.message_primary or str(exc).strip()
    return ApiError(status_for_sqlstate(code, authenticated), code, message, diag.message_detail, diag.message_hint)
