"""`/functions/v1/email-unsubscribe?token=...`: the one-click unsubscribe of outbound email (RFC 8058).

- `POST` with the form body `List-Unsubscribe=One-Click` (what a mail client sends for the
  `List-Unsubscribe-Post` header, or the confirm page's button) opts the lead out of the token's channel
  (consent method `email_unsubscribe`, which publishes `lead.opted_out` and stops queued sends) and answers
  200: JSON for a mail client, a short HTML page for a browser (Accept: text/html). Repeating it is harmless.
- `GET` (someone clicked the link) only shows a confirm page with a button that makes that POST. It never opts
  out: mail scanners and link previews fetch every link of a mail, and they must not unsubscribe anyone.
- The token (`salesflow.conversations.unsubscribe`) is signed with the project's service-role key and names
  tenant, lead, channel and the message it came in. Missing or malformed → 400, a signature that does not
  match → 401, both JSON naming `token`, and nothing is stored.

`verify_jwt = false` (supabase/config.toml): mail clients send no JWT; the token is the authority. The opt-out
is written with the service key through `POST /rest/v1/rpc/record_opt_out`, as on Supabase.
"""

# No `from __future__ import annotations`: the stack loads this file under a name outside sys.modules, where
# pydantic could not resolve postponed annotations of the models below.
import html
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from salesflow.conversations.unsubscribe import InvalidToken, UnsubscribeRequest, read_token
from salesflow.conversations.vocabulary import MESSAGE_CHANNELS

Language = Literal["de", "en"]


class TokenQuery(BaseModel):
    """The query string: the signed token."""

    token: str = Field(min_length=3, max_length=4000)


class OneClickForm(BaseModel):
    """RFC 8058 section 3.1: the POST body is exactly `List-Unsubscribe=One-Click`."""

    model_config = ConfigDict(populate_by_name=True)

    list_unsubscribe: Literal["One-Click"] = Field(alias="List-Unsubscribe")


_TEXT: dict[Language, dict[str, str]] = {
    "de": {
        "title": "Abmelden",
        "ask": "Möchten Sie keine E-Mails mehr von uns erhalten?",
        "button": "Ja, abmelden",
        "done_title": "Abgemeldet",
        "done": "Sie erhalten von uns keine E-Mails mehr.",
    },
    "en": {
        "title": "Unsubscribe",
        "ask": "Do you want to stop receiving emails from us?",
        "button": "Yes, unsubscribe",
        "done_title": "Unsubscribed",
        "done": "You will not receive any more emails from us.",
    },
}


def _language(request: Request) -> Language:
    wanted = request.query_params.get("lang")
    if wanted in ("de", "en"):
        return wanted  # type: ignore[return-value]
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("de"):
            return "de"
        if tag.startswith("en"):
            return "en"
    return "en"


def _page(language: Language, title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>{body}</main>"
        f"</body></html>",
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_input" if status == 400 else "unauthorized", "field": field,
                         "message": f"{field}: {message}"}, status_code=status)


def _verified(request: Request) -> UnsubscribeRequest | Response:
    """The token's request, or the 400/401 answer."""
    try:
        query = TokenQuery.model_validate({"token": request.query_params.get("token")})
    except ValidationError:
        return _error(400, "token", "the link's token is missing (expected ?token=...)")
    try:
        verified = read_token(query.token, request.state.env["SUPABASE_SERVICE_ROLE_KEY"])
    except InvalidToken as exc:
        if "does not match" in str(exc):
            return _error(401, "token", "the signature does not match (this link was not made by us)")
        return _error(400, "token", str(exc).removeprefix("token: "))
    if verified.channel not in MESSAGE_CHANNELS:
        return _error(400, "token", f"names the channel {verified.channel!r}; allowed: {', '.join(MESSAGE_CHANNELS)}")
    return verified


async def _opt_out(env: dict[str, str], who: UnsubscribeRequest) -> httpx.Response:
    key = env["SUPABASE_SERVICE_ROLE_KEY"]
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    args: dict[str, Any] = {
        "p_tenant_id": str(who.tenant_id), "p_lead_id": str(who.lead_id), "p_channel": who.channel,
        "p_method": "email_unsubscribe", "p_evidence": "RFC 8058 one-click unsubscribe",
        "p_source_message_id": str(who.message_id) if who.message_id else None,
    }
    async with httpx.AsyncClient(base_url=env["SUPABASE_URL"], timeout=10) as http:
        response = await http.post("/rest/v1/rpc/record_opt_out", json=args, headers=headers)
        if response.status_code == 409 and args["p_source_message_id"] is not None:
            # The mail's message was erased since: the opt-out still holds, without its source.
            response = await http.post("/rest/v1/rpc/record_opt_out", json={**args, "p_source_message_id": None},
                                       headers=headers)
    return response


async def handle(request: Request) -> Response:
    """GET: the confirm page. POST with List-Unsubscribe=One-Click: opt out."""
    if request.method not in ("GET", "POST"):
        return JSONResponse({"error": "method_not_allowed", "message": "use GET (confirm page) or POST (one-click)"},
                            status_code=405, headers={"Allow": "GET, POST"})
    verified = _verified(request)
    if isinstance(verified, Response):
        return verified
    language = _language(request)
    text = _TEXT[language]
    if request.method == "GET":
        action = f"?token={quote(request.query_params['token'], safe='')}&lang={language}"
        return _page(language, text["title"], (
            f"<p>{html.escape(text['ask'])}</p>"
            f'<form method="post" action="{html.escape(action)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f'<button type="submit">{html.escape(text["button"])}</button></form>'))
    try:
        form = await request.form()
        OneClickForm.model_validate(dict(form))
    except (ValidationError, AssertionError, ValueError):
        return _error(400, "List-Unsubscribe", "the POST body must be List-Unsubscribe=One-Click (RFC 8058)")
    response = await _opt_out(request.state.env, verified)
    if response.status_code == 409:
        return JSONResponse({"error": "not_found", "field": "token", "message": "token: this lead no longer exists"},
                            status_code=404)
    if response.status_code >= 300:
        return JSONResponse({"error": "unavailable", "message": "the opt-out could not be recorded; try again"},
                            status_code=503)
    if "text/html" in request.headers.get("accept", ""):
        return _page(language, text["done_title"], f"<p>{html.escape(text['done'])}</p>")
    return JSONResponse({"unsubscribed": True, "channel": verified.channel})
