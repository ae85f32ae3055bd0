"""`POST /functions/v1/create-lead`: create a lead for the signed-in user's tenant, with field-level errors.

Body: {"name": str, "email"?: str, "phone"?: str, "company"?: str, "source_channel"?: str}. The lead is
written through PostgREST with the caller's own JWT, so RLS and the tenant default apply exactly as for
the browser; this function only adds validation with messages that name the field. `verify_jwt` is on
(the default): the gateway refuses callers without a valid token before this code runs. The answer is
`application/json` (a function's own content type, whatever PostgREST answered), so `functions.invoke`
in supabase-js hands the caller an object.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from salesflow.leads import SOURCE_CHANNELS

EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()/.-]{5,25}[0-9]$")
FIELDS = ("name", "email", "phone", "company", "source_channel")


def invalid(field: str, message: str) -> Response:
    return JSONResponse({"error": "invalid_input", "field": field, "message": f"{field}: {message}"},
                        status_code=400)


def validate(body: Any) -> dict[str, str] | Response:
    """The lead to insert, or a 400 response naming the first bad field."""
    if not isinstance(body, dict):
        return invalid("body", "must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        return invalid(unknown[0], f"unknown field; allowed: {', '.join(FIELDS)}")
    for field in FIELDS:
        if field in body and body[field] is not None and not isinstance(body[field], str):
            return invalid(field, "must be a string")
    name = (body.get("name") or "").strip()
    if not 1 <= len(name) <= 300:
        return invalid("name", "is required (1-300 characters)")
    lead = {"name": name}
    if body.get("email"):
        if not EMAIL.match(body["email"].strip()):
            return invalid("email", f"{body['email']!r} is not an email address")
        lead["email"] = body["email"].strip()
    if body.get("phone"):
        if not PHONE.match(body["phone"].strip()):
            return invalid("phone", f"{body['phone']!r} is not a phone number (digits, optional +)")
        lead["phone"] = body["phone"].strip()
    if body.get("company"):
        lead["company"] = body["company"].strip()
    if body.get("source_channel"):
        if body["source_channel"] not in SOURCE_CHANNELS:
            return invalid("source_channel", f"must be one of {', '.join(SOURCE_CHANNELS)}")
        lead["source_channel"] = body["source_channel"]
    return lead


async def handle(request: Request) -> Response:
    """Validate the body and insert the lead as the caller."""
    if request.method != "POST":
        return JSONResponse({"error": "method_not_allowed", "message": "use POST"}, status_code=405)
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return invalid("body", "is not valid JSON")
    lead = validate(body)
    if isinstance(lead, Response):
        return lead
    env = request.state.env
    # The caller's JWT decides the role (RLS applies); the apikey is the project's, as in an edge function.
    headers = {"Authorization": request.headers["authorization"], "apikey": env["SUPABASE_ANON_KEY"],
               "Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"}
    async with httpx.AsyncClient(base_url=env["SUPABASE_URL"], timeout=10) as http:
        response = await http.post("/rest/v1/leads", json=lead, headers=headers)
    if response.status_code == 409:
        return JSONResponse({"error": "duplicate", "field": "email",
                             "message": "email: a lead with this email already exists in your tenant"},
                            status_code=409)
    return JSONResponse(response.json() if response.content else None, status_code=response.status_code)
