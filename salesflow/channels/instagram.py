"""Instagram Messaging (Meta Send API): replies to a lead who wrote to the Instagram professional account.

`POST {api_base_url}/{instagram_account_id}/messages` with `{"recipient": {"id": <IGSID>}, "message": ...}`;
the answer's `message_id` is the provider message id. Within 24 h of the lead's last message the request is
`messaging_type=RESPONSE`; a reply a person wrote (`human_agent`) may follow up to 7 days as
`messaging_type=MESSAGE_TAG` with `tag=HUMAN_AGENT`; anything else is refused naming the rule
(`salesflow.channels.rules`). No lookup of a sent message exists, so `can_look_up` is false.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from salesflow.channels.credentials import InstagramMessagingSecrets
from salesflow.channels.errors import json_object, meta_error
from salesflow.channels.http import HttpCaller, RenderedRequest
from salesflow.channels.port import LookupResult, OutboundMessage, RetryableSendError, SendReceipt
from salesflow.channels.rules import check_message, instagram_messaging_type, media_url

GRAPH_API: Final = "https://graph.facebook.com/v21.0"
_ATTACHMENT_TYPES: Final = {"image": "image", "audio": "audio", "document": "file"}


def render(message: OutboundMessage, account_id: str, now: datetime,
           api_base_url: str | None = None) -> RenderedRequest:
    """The Send API request for `message` at `now` (the window decides the messaging type; raises if closed)."""
    messaging = instagram_messaging_type(message, now)
    content: dict[str, Any]
    if message.content_type == "text":
        content = {"text": message.body}
    else:
        content = {"attachment": {"type": _ATTACHMENT_TYPES[message.content_type],
                                  "payload": {"url": media_url(message)}}}
    payload: dict[str, Any] = {"recipient": {"id": message.to}, "message": content}
    if messaging == "HUMAN_AGENT":
        payload |= {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    else:
        payload["messaging_type"] = "RESPONSE"
    return RenderedRequest("POST", f"{api_base_url or GRAPH_API}/{account_id}/messages", json=payload)


class InstagramAdapter:
    """One Instagram professional account."""

    provider = "instagram_messaging"
    channel = "instagram"
    can_look_up = False

    def __init__(self, address: str, account_id: str, secrets: InstagramMessagingSecrets, *,
                 http: httpx.AsyncClient | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.address = address
        self.account_id = account_id
        self._secrets = secrets
        self._base = secrets.api_base_url or GRAPH_API
        self._http = HttpCaller(self.channel, http)
        self._clock = clock or (lambda: datetime.now(UTC))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._secrets.access_token.get_secret_value()}"}

    def check(self, message: OutboundMessage, now: datetime) -> None:
        """Content, length (1000), the 24 h window and the 7-day human-agent window."""
        check_message(message, now)

    def render(self, message: OutboundMessage) -> RenderedRequest:
        return render(message, self.account_id, self._clock(), self._base)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send through the Send API; the window is checked again at the moment of sending."""
        now = self._clock()
        self.check(message, now)
        request = render(message, self.account_id, now, self._base)
        response = await self._http.send(request, headers=self._headers())
        if response.status_code >= 400:
            raise meta_error(response, self.channel)
        data = json_object(response)
        if not isinstance(data, dict) or not data.get("message_id"):
            raise RetryableSendError("meta_no_message_id", f"instagram: accepted without a message id: {data!r}"[:300],
                                     maybe_accepted=True, http_status=response.status_code)
        assert request.json is not None
        return SendReceipt(
            provider_message_id=str(data["message_id"]),
            accepted_at=self._clock(),
            detail={"recipient_id": data.get("recipient_id"), "messaging_type": request.json["messaging_type"],
                    "tag": request.json.get("tag")},
        )

    async def look_up(self, message: OutboundMessage) -> LookupResult | None:
        """The Send API cannot tell whether it accepted a message: None (the message becomes unknown)."""
        return None

    async def verify(self) -> str:
        """GET the account: proves the token and the account id."""
        request = RenderedRequest("GET", f"{self._base}/{self.account_id}", params={"fields": "id,username,name"})
        response = await self._http.send(request, headers=self._headers())
        if response.status_code >= 400:
            raise meta_error(response, self.channel)
        data = json_object(response)
        return f"instagram account {data.get('username') or data.get('name') or data.get('id', '?')}"
