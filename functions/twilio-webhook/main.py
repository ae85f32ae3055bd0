"""`/functions/v1/twilio-webhook`: Twilio SMS, inbound messages and status callbacks (verify_jwt off).

Form POSTs signed with `X-Twilio-Signature` (checked by the `twilio` package's RequestValidator with the
connection's `auth_token`) over the public URL Twilio called: the connection's `webhook_url` secret if set,
else SUPABASE_URL + /functions/v1/twilio-webhook + the query string. An inbound message is routed by `To`,
a status callback (it carries MessageStatus) by `From`, both with AccountSid as the fallback. Statuses never
move a message backwards. See salesflow/channels/inbound/functions.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from salesflow.channels.inbound.functions import twilio_webhook


async def handle(request: Request) -> Response:
    """Inbound SMS or status callback."""
    return await twilio_webhook(request)
