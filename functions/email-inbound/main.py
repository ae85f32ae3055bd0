"""`/functions/v1/email-inbound`: inbound email from Postmark (JSON) or SendGrid Inbound Parse (multipart).

verify_jwt off; HTTP basic auth instead, with the receiving address's `inbound_username` / `inbound_password`
secrets (configure the webhook URL as https://user:password@.../functions/v1/email-inbound). The address is
the first recipient (envelope, To, Cc) that is connected; the message's provider id is its Message-ID, and
In-Reply-To / References / Subject are kept in messages.provider_detail. See
salesflow/channels/inbound/functions.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from salesflow.channels.inbound.functions import email_inbound


async def handle(request: Request) -> Response:
    """Postmark or SendGrid delivery."""
    return await email_inbound(request)
