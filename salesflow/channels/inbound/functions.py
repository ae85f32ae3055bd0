"""The webhook functions themselves (functions/*/main.py are one-line wrappers, so this code is typed, linted
and importable by tests and the demo).

    whatsapp-webhook   GET: Meta's handshake; POST: messages and statuses, X-Hub-Signature-256
    instagram-webhook  the same for Instagram Messaging
    twilio-webhook     inbound SMS and status callbacks, X-Twilio-Signature
    email-inbound      Postmark inbound JSON or SendGrid Inbound Parse (multipart), HTTP basic auth
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from salesflow.channels.inbound.email import InboundEmail, read_postmark, read_sendgrid
from salesflow.channels.inbound.errors import InvalidDelivery
from salesflow.channels.inbound.flow import (
    bad_request,
    ingest,
    method_not_allowed,
    stored_headers,
    unauthorized,
    unavailable,
    unknown_address,
)
from salesflow.channels.inbound.ingest import Connection, IngestApi, IngestError
from salesflow.channels.inbound.items import Delivery
from salesflow.channels.inbound.signatures import basic_auth_valid, meta_signature_valid, twilio_signature_valid
from salesflow.channels.inbound.twilio import read_twilio

# inbound_webhooks.raw_body holds at most 10 MiB (its check constraint); larger deliveries are refused up front.
MAX_DELIVERY_BYTES = 10 * 1024 * 1024


def _too_large() -> Response:
    return JSONResponse({"error": "too_large", "field": "body",
                         "message": f"body: at most {MAX_DELIVERY_BYTES} bytes"}, status_code=413)


async def _body(request: Request) -> bytes | Response:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_DELIVERY_BYTES:
        return _too_large()
    raw = await request.body()
    return _too_large() if len(raw) > MAX_DELIVERY_BYTES else raw


async def meta_webhook(request: Request, provider: str, reader: Callable[[bytes], Delivery]) -> Response:
    """WhatsApp Cloud / Instagram: the subscription handshake (GET) and signed deliveries (POST)."""
    api = IngestApi.for_request(request)
    if request.method == "GET":
        query = request.query_params
        if query.get("hub.mode") != "subscribe":
            return bad_request(InvalidDelivery("hub.mode", "must be subscribe"))
        challenge = query.get("hub.challenge")
        if not challenge:
            return bad_request(InvalidDelivery("hub.challenge", "is required"))
        try:
            known = await api.verify_token_known(provider, query.get("hub.verify_token") or "")
        except IngestError as error:
            return unavailable(error)
        if not known:
            return JSONResponse({"error": "verify_token", "field": "hub.verify_token",
                                 "message": "hub.verify_token: no connected channel has this verify token"},
                                status_code=403)
        return PlainTextResponse(challenge)
    if request.method != "POST":
        return method_not_allowed("GET, POST")
    signature = request.headers.get("x-hub-signature-256")
    if not signature:
        return unauthorized("X-Hub-Signature-256 is missing: Meta signs every delivery with the app secret")
    raw = await _body(request)
    if isinstance(raw, Response):
        return raw
    try:
        delivery = reader(raw)
    except InvalidDelivery as error:
        return bad_request(error)

    def signed(connection: Connection) -> bool:
        return meta_signature_valid(str(connection.secrets.get("app_secret") or ""), raw, signature)

    return await ingest(api, delivery, raw, request.headers, signed,
                        "X-Hub-Signature-256 does not match the body under the connection's app secret")


def twilio_public_url(request: Request, connection: Connection, function: str = "twilio-webhook") -> str:
    """The URL Twilio signed: the connection's `webhook_url` secret when set (exactly what is configured in
    Twilio), else the project's public URL (SUPABASE_URL, which a proxy in front does not change) plus the
    function's path and the request's query string. Never the URL this process sees, which behind a proxy or
    the edge runtime is an internal one."""
    query = request.url.query
    configured = connection.secrets.get("webhook_url")
    if configured:
        url = str(configured)
        return url if "?" in url or not query else f"{url}?{query}"
    base = str(request.state.env["SUPABASE_URL"]).rstrip("/")
    return f"{base}/functions/v1/{function}" + (f"?{query}" if query else "")


async def twilio_webhook(request: Request) -> Response:
    """Twilio: inbound SMS and status callbacks (form POSTs), X-Twilio-Signature."""
    if request.method != "POST":
        return method_not_allowed("POST")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return unauthorized("X-Twilio-Signature is missing: Twilio signs every request with the auth token")
    raw = await _body(request)
    if isinstance(raw, Response):
        return raw
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return bad_request(InvalidDelivery("content-type", "Twilio posts application/x-www-form-urlencoded"))
    try:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        return bad_request(InvalidDelivery("body", "is not UTF-8 form data"))
    try:
        delivery = read_twilio(params)
    except InvalidDelivery as error:
        return bad_request(error)

    def signed(connection: Connection) -> bool:
        return twilio_signature_valid(str(connection.secrets.get("auth_token") or ""),
                                      twilio_public_url(request, connection), params, signature)

    return await ingest(api=IngestApi.for_request(request), delivery=delivery, raw_body=raw, headers=request.headers,
                        signed_by=signed,
                        missing_signature="X-Twilio-Signature does not match this URL and body under the auth token")


def _external_id(address: str, message_id: str) -> str:
    # One email reaches several tenants' addresses with one Message-ID: the receiving address makes the
    # delivery's id unique per provider; a very long Message-ID is hashed to stay within 300 characters.
    external = f"{address}:{message_id}"
    return external if len(external) <= 300 else f"{address}:sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"


async def email_inbound(request: Request) -> Response:
    """Inbound email: Postmark's JSON or SendGrid's multipart Inbound Parse, with HTTP basic auth."""
    if request.method != "POST":
        return method_not_allowed("POST")
    authorization = request.headers.get("authorization")
    if not authorization:
        return JSONResponse({"error": "invalid_signature", "message": "basic auth is missing"}, status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="email-inbound"'})
    raw = await _body(request)
    if isinstance(raw, Response):
        return raw
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            fields: dict[str, Any] = {}
            for key, value in form.multi_items():
                if not isinstance(value, UploadFile):
                    fields[key] = value
            email: InboundEmail = read_sendgrid(fields, raw)
            provider = "sendgrid"
        elif content_type.startswith("application/json"):
            email = read_postmark(raw)
            provider = "postmark"
        else:
            raise InvalidDelivery("content-type", "Postmark posts application/json, SendGrid multipart/form-data")
    except InvalidDelivery as error:
        return bad_request(error)
    route = email.route
    if route is None:
        return bad_request(InvalidDelivery("to", "names no recipient address"))
    api = IngestApi.for_request(request)
    try:
        connection = await api.find_connection(route)
        if connection is None:
            return unknown_address(f"no connected channel receives at {', '.join(email.recipients)}")
        def authorised(candidate: Connection) -> bool:
            return basic_auth_valid(authorization, candidate.secrets.get("inbound_username"),
                                    candidate.secrets.get("inbound_password"))

        if not authorised(connection):
            # a cached connection may hold credentials that were just changed: once more, fresh
            connection = await api.find_connection(route, fresh=True)
        if connection is None:
            return unknown_address(f"no connected channel receives at {', '.join(email.recipients)}")
        if not authorised(connection):
            await api.note_signature_failure(connection)
            return JSONResponse({"error": "invalid_signature",
                                 "message": "basic auth does not match the address's inbound credentials"},
                                status_code=401, headers={"WWW-Authenticate": 'Basic realm="email-inbound"'})
        try:
            outcome = await api.record_message(
                connection, email.message, raw, stored_headers(request.headers),
                external_id=_external_id(connection.address, email.message.provider_message_id), provider=provider)
        except IngestError as error:
            current = await api.find_connection(route, fresh=True) if error.connection_gone else None
            if current is None or current.id == connection.id or not authorised(current):
                raise
            outcome = await api.record_message(
                current, email.message, raw, stored_headers(request.headers),
                external_id=_external_id(current.address, email.message.provider_message_id), provider=provider)
    except IngestError as error:
        return unavailable(error)
    recorded = outcome.get("outcome") == "recorded"
    return JSONResponse({"recorded": int(recorded), "duplicates": int(not recorded), "statuses": 0})
