"""The HTTP side shared by the API adapters: one request, its rendering, and its failures classified.

Sending uses plain `httpx` (not the providers' SDKs): the send job is async and `httpx` is, every request is
rendered the same way for the outbox, and tests mock it at the HTTP layer with `respx`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from salesflow.channels.errors import calling

#: Provider calls give up after this long (seconds) and count as retryable timeouts.
DEFAULT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """An HTTP request exactly as an adapter would make it, minus the credentials (the outbox records it)."""

    method: str
    url: str
    json: Mapping[str, Any] | None = None
    form: Mapping[str, Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `SendReceipt.detail["rendered"]`."""
        out: dict[str, Any] = {"method": self.method, "url": self.url}
        if self.params:
            out["params"] = dict(self.params)
        if self.json is not None:
            out["json"] = self.json
        if self.form is not None:
            out["form"] = self.form
        return out


class HttpCaller:
    """Makes requests through the given client, or a short-lived one of its own."""

    def __init__(self, channel: str, http: httpx.AsyncClient | None) -> None:
        self._channel = channel
        self._http = http

    async def send(self, request: RenderedRequest, *, headers: Mapping[str, str] | None = None,
                   auth: httpx.Auth | tuple[str, str] | None = None) -> httpx.Response:
        """The provider's response (any status); timeouts and connection errors raise RetryableSendError."""

        async def call(client: httpx.AsyncClient) -> httpx.Response:
            return await client.request(
                request.method, request.url, json=request.json, data=request.form,
                params=dict(request.params) or None, headers=dict(headers or {}), auth=auth or httpx.USE_CLIENT_DEFAULT,
            )

        if self._http is not None:
            client = self._http
            return await calling(self._channel, lambda: call(client))
        async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as own:
            return await calling(self._channel, lambda: call(own))
