"""`/functions/v1/instagram-webhook`: Instagram Messaging webhooks (verify_jwt off: Meta signs instead).

GET   Meta's subscription handshake (hub.mode, hub.verify_token, hub.challenge), as for WhatsApp.
POST  direct messages and read receipts, `X-Hub-Signature-256` with the connection's `app_secret`; the
      connection is found by entry.id (the Instagram account id, its external_account_id). Echoes of our own
      sends are skipped. See salesflow/channels/inbound/functions.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from salesflow.channels.inbound.functions import meta_webhook
from salesflow.channels.inbound.meta import read_instagram


async def handle(request: Request) -> Response:
    """Handshake or delivery."""
    return await meta_webhook(request, "instagram_messaging", read_instagram)
