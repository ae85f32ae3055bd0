"""WhatsApp Cloud API (Meta Graph API): text, media and template sends.

`POST {api_base_url}/{phone_number_id}/messages` with the system-user token as a Bearer header; the answer's
`messages[0].id` (a `wamid.`) is the provider message id the status webhooks name. Free-form messages only
inside the 24 h customer-service window (`salesflow.channels.rules`), a template at any time. The Cloud API
has no way to ask whether a message was accepted (no idempotency key, no lookup by our id), so
`can_look_up` is false: a message found `sending` after a crash becomes `unknown`. Each request carries our
message id in `biz_opaque_callback_data`, which Meta echoes in status webhooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from salesflow.channels.credentials import WhatsAppCloudSecrets
from salesflow.channels.errors import json_object, meta_error
from salesflow.channels.http import HttpCaller, RenderedRequest
from salesflow.channels.port import LookupResult, OutboundMessage, RetryableSendError, SendReceipt
from salesflow.channels.rules import check_message, media_url

GRAPH_API: Final = "https://graph.facebook.com/v21.0"
_MEDIA_TYPES: Final = {"image": "image", "audio": "audio", "document": "document"}


def _template_parameters(variables: Mapping[str, Any] | Sequence[Any] | None) -> list[dict[str, Any]]:
    if not variables:
        return []
    if isinstance(variables, Mapping):  # named parameters ({{first_name}})
        return [{"type": "text", "parameter_name": str(k), "text": str(v)} for k, v in variables.items()]
    return [{"type": "text", "text": str(v)} for v in variables]  # positional ({{1}}, {{2}})


def render(message: OutboundMessage, phone_number_id: str, api_base_url: str | None = None) -> RenderedRequest:
    """The Graph API request for `message` (the caller checks the rules first)."""
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to.lstrip("+"),
        "biz_opaque_callback_data": str(message.message_id),
    }
    if message.content_type == "template":
        template: dict[str, Any] = {"name": message.template_name,
                                    "language": {"code": message.template_language or "en"}}
        parameters = _template_parameters(message.template_variables)
        if parameters:
            template["components"] = [{"type": "body", "parameters": parameters}]
        payload |= {"type": "template", "template": template}
    elif message.content_type == "text":
        body = message.body or ""
        payload |= {"type": "text", "text": {"preview_url": "http://" in body or "https://" in body, "body": body}}
    else:
        kind = _MEDIA_TYPES[message.content_type]
        media: dict[str, Any] = {"link": media_url(message)}
        if message.body and kind != "audio":
            media["caption"] = message.body
        if kind == "document" and (message.media or {}).get("filename"):
            media["filename"] = (message.media or {})["filename"]
        payload |= {"type": kind, kind: media}
    return RenderedRequest("POST", f"{api_base_url or GRAPH_API}/{phone_number_id}/messages", json=payload)


class WhatsAppCloudAdapter:
    """One WhatsApp Business phone number on the Cloud API."""

    provider = "whatsapp_cloud"
    channel = "whatsapp"
    can_look_up = False

    def __init__(self, address: str, phone_number_id: str, secrets: WhatsAppCloudSecrets, *,
                 http: httpx.AsyncClient | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.address = address
        self.phone_number_id = phone_number_id
        self._secrets = secrets
        self._base = secrets.api_base_url or GRAPH_API
        self._http = HttpCaller(self.channel, http)
        self._clock = clock or (lambda: datetime.now(UTC))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._secrets.access_token.get_secret_value()}"}

    def check(self, message: OutboundMessage, now: datetime) -> None:
        """Content, length (4096) and the 24 h customer-service window."""
        check_message(message, now)

    def render(self, message: OutboundMessage) -> RenderedRequest:
        return render(message, self.phone_number_id, self._base)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send through the Graph API; the window is checked again at the moment of sending."""
        self.check(message, self._clock())
        response = await self._http.send(self.render(message), headers=self._headers())
        if response.status_code >= 400:
            raise meta_error(response, self.channel)
        data = json_object(response)
        messages = data.get("messages") if isinstance(data, dict) else None
        if not messages or not isinstance(messages, list) or not messages[0].get("id"):
            # Accepted (2xx) but no id to record: the lead may get it, so never send it blindly again.
            raise RetryableSendError("meta_no_message_id", f"whatsapp: accepted without a message id: {data!r}"[:300],
                                     maybe_accepted=True, http_status=response.status_code)
        contact = (data.get("contacts") or [{}])[0]
        return SendReceipt(
            provider_message_id=str(messages[0]["id"]),
            accepted_at=self._clock(),
            detail={"wa_id": contact.get("wa_id"), "message_status": messages[0].get("message_status")},
        )

    async def look_up(self, message: OutboundMessage) -> LookupResult | None:
        """The Cloud API cannot tell whether it accepted a message: None (the message becomes unknown)."""
        return None

    async def verify(self) -> str:
        """GET the phone number: proves the token and the phone_number_id."""
        request = RenderedRequest("GET", f"{self._base}/{self.phone_number_id}",
                                  params={"fields": "display_phone_number,verified_name,quality_rating"})
        response = await self._http.send(request, headers=self._headers())
        if response.status_code >= 400:
            raise meta_error(response, self.channel)
        data = json_object(response)
        return (f"whatsapp number {data.get('display_phone_number', '?')} ({data.get('verified_name', '?')}), "
                f"quality {data.get('quality_rating', 'unknown')}")
