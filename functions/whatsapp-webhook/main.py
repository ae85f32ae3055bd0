"""`/functions/v1/whatsapp-webhook`: WhatsApp Cloud API webhooks (verify_jwt off: Meta signs instead).

GET   Meta's subscription handshake: hub.mode=subscribe, hub.verify_token (a connection's `verify_token`
      secret), hub.challenge echoed back; 403 for an unknown token.
POST  messages and statuses, `X-Hub-Signature-256` = HMAC-SHA256 of the raw body with the connection's
      `app_secret`; the connection is found by the body's metadata.phone_number_id (its external_account_id),
      else its display number. 401 bad signature, 404 unknown number, 400 malformed (naming the field),
      200 otherwise (a redelivery stores nothing new). See salesflow/channels/inbound/functions.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from salesflow.channels.inbound.functions import meta_webhook
from salesflow.channels.inbound.meta import read_whatsapp


async def handle(request: Request) -> Response:
    """Handshake or delivery."""
    return await meta_webhook(request, "whatsapp_cloud", read_whatsapp)
