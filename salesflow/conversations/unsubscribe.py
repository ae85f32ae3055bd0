"""One-click unsubscribe links (RFC 8058) for outbound email, signed so nobody can opt out someone else.

The send job puts `unsubscribe_link(...)` into `List-Unsubscribe` (with `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`); the `email-unsubscribe` function verifies the token with `read_token` and records
the opt-out. The key is the project's service-role key: both the listener and the function hold it, and a
link is worthless without it. Tokens do not expire (a mail read a year later must still unsubscribe), but
they name one tenant, lead and channel only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from uuid import UUID

FUNCTION_NAME = "email-unsubscribe"


class InvalidToken(ValueError):
    """The token is malformed or its signature does not match."""


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    """Who asked to stop receiving what: verified from the token."""

    tenant_id: UUID
    lead_id: UUID
    channel: str
    message_id: UUID | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(body: str, key: str) -> str:
    return _b64(hmac.new(key.encode(), b"salesflow-unsubscribe." + body.encode(), hashlib.sha256).digest())


def make_token(request: UnsubscribeRequest, key: str) -> str:
    """`<payload>.<signature>`, both base64url; the payload is compact JSON."""
    payload = {"t": str(request.tenant_id), "l": str(request.lead_id), "c": request.channel,
               "m": str(request.message_id) if request.message_id else None}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_signature(body, key)}"


def read_token(token: str, key: str) -> UnsubscribeRequest:
    """The request a token carries; raises InvalidToken when it was not signed with `key`."""
    body, dot, signature = token.partition(".")
    if not dot or not body or not signature:
        raise InvalidToken("token: expected <payload>.<signature>")
    if not hmac.compare_digest(signature, _signature(body, key)):
        raise InvalidToken("token: the signature does not match")
    try:
        payload = json.loads(_unb64(body))
        return UnsubscribeRequest(UUID(payload["t"]), UUID(payload["l"]), str(payload["c"]),
                                  UUID(payload["m"]) if payload.get("m") else None)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(f"token: malformed payload ({exc})") from None


def unsubscribe_link(api_url: str, request: UnsubscribeRequest, key: str) -> str:
    """The HTTPS URL for `List-Unsubscribe`: `<api>/functions/v1/email-unsubscribe?token=...`."""
    return f"{api_url.rstrip('/')}/functions/v1/{FUNCTION_NAME}?token={make_token(request, key)}"
