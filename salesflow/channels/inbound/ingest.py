"""The webhook functions' way into the database: PostgREST RPC with the service-role key, as an edge function
would call it (no driver in a function). One round trip to find the connection (cached briefly), one per
recorded item. Under `salesflow dev`, whose one process serves the functions and /rest/v1, the RPC is handed
to that same ASGI app in-process (the same /rest/v1 code path, no loopback socket; see `IngestApi.for_request`).

    public.find_webhook_connection(p_channel, p_address, p_provider, p_external_account_id)
    public.webhook_verify_token_known(p_provider, p_verify_token)
    public.record_inbound_message(p_connection_id, p_external_id, p_provider_message_id, p_sender, ...)
    public.record_status_callback(p_connection_id, p_external_id, p_provider_message_id, p_status, ...)
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp, Message

from salesflow.channels.inbound.items import InboundMessage, Route, StatusReport

log = logging.getLogger("salesflow.webhooks")

# One client per event loop and API URL: a connection pool reused across deliveries (a new client per
# request costs a TCP handshake each time), never shared across loops (httpx clients are bound to theirs).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary())


def _client(base_url: str) -> httpx.AsyncClient:
    per_loop = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(base_url)
    if client is None or client.is_closed:
        client = per_loop[base_url] = httpx.AsyncClient(
            base_url=base_url, timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    return client


class _Answer:
    """What an in-process call answered: the part of an httpx.Response `_rpc` reads."""

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


async def _in_process(app: ASGIApp, base_url: str, path: str, body: bytes, headers: Mapping[str, str]) -> _Answer:
    """POST `path` to the ASGI app serving this very request: the same API the URL names, without a socket.

    The local stack (`salesflow dev`) serves the functions and /rest/v1 in one process, so an RPC over
    loopback HTTP costs that process a second request's client and server work (the profile showed the
    httpx/httpcore client alone at a third of a webhook's CPU). The call still goes through the whole
    /rest/v1 path (gateway, keys, role, the function), only the transport differs."""
    url = urlsplit(base_url)
    host = url.hostname or "127.0.0.1"
    port = url.port or (443 if url.scheme == "https" else 80)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": url.scheme or "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": (host, port), "client": ("127.0.0.1", 0),
        "headers": [(b"host", url.netloc.encode()), (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
    }
    sent = False
    status = 500
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the app asked for more than the body: wait until cancelled
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await asyncio.wait_for(app(scope, receive, send), 10)
    return _Answer(status, b"".join(chunks))


# Found connections, briefly: a delivery otherwise costs two round trips, and a provider sends many for one
# number. Only hits are kept (an unknown address is asked again every time), and a signature that fails with
# a cached secret is checked again with a fresh lookup, so a rotated secret or a moved number applies at
# once; a disconnected channel keeps receiving for at most CONNECTION_TTL seconds.
CONNECTION_TTL = 10.0
_CONNECTIONS: dict[tuple[str, Route], tuple[float, Connection]] = {}


class IngestError(RuntimeError):
    """The database did not take the call (unreachable, or refused it): the webhook answers 5xx so the
    provider retries later. `code` is the SQLSTATE PostgREST reported, if any."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def connection_gone(self) -> bool:
        """The connection named no longer exists (a cached one, disconnected meanwhile)."""
        return self.code == "23503" and "p_connection_id" in str(self)


@dataclass(frozen=True)
class Connection:
    """A channel connection a delivery is for, with its secrets (service code only)."""

    id: str
    tenant_id: str
    channel: str
    provider: str
    address: str
    external_account_id: str | None
    secrets: Mapping[str, Any]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class IngestApi:
    """RPC calls of the ingest, with the service-role key from the function's environment."""

    def __init__(self, env: Mapping[str, str], local_app: ASGIApp | None = None) -> None:
        """`local_app`: the ASGI app serving the function's request when it also serves SUPABASE_URL (the
        local stack: see `for_request`); its RPCs are then dispatched to it in-process."""
        self._base = env["SUPABASE_URL"].rstrip("/")
        key = env["SUPABASE_SERVICE_ROLE_KEY"]
        self._headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._local_app = local_app

    @classmethod
    def for_request(cls, request: Request) -> IngestApi:
        """The API for a function's request: in-process when the server that runs the function is the API
        SUPABASE_URL names (`salesflow dev`, which serves /rest/v1 and the functions on one port: the same
        scheme, host and port), else HTTP (a real project's API under `salesflow functions serve`)."""
        env = request.state.env
        base = str(env["SUPABASE_URL"]).rstrip("/")
        app = request.scope.get("app")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        return cls(env, app if app is not None and own == base else None)

    async def _rpc(self, name: str, args: Mapping[str, Any]) -> Any:
        response: httpx.Response | _Answer
        if self._local_app is not None:
            try:
                response = await _in_process(self._local_app, self._base, f"/rest/v1/rpc/{name}",
                                             json.dumps(dict(args), separators=(",", ":")).encode(), self._headers)
            except TimeoutError:
                raise IngestError(f"{name}: the API did not answer within 10 s") from None
            except Exception as error:  # the in-process API failed (the stack logs its 500)
                raise IngestError(f"{name}: {type(error).__name__}: {error}") from None
        else:
            response = await self._over_http(name, args)
        if response.status_code >= 300:
            try:
                code = response.json().get("code")
            except ValueError:
                code = None
            raise IngestError(f"{name}: HTTP {response.status_code}: {response.text[:500]}",
                              code if isinstance(code, str) else None)
        return response.json() if response.content else None

    async def _over_http(self, name: str, args: Mapping[str, Any]) -> httpx.Response:
        # A pooled keep-alive connection the server closed just as it was reused fails with a transport error
        # (ReadError, RemoteProtocolError). Every RPC here is idempotent (lookups, and records keyed by the
        # provider's ids), so one more try on a fresh connection is safe and spares the provider a retry.
        for attempt in (1, 2):
            try:
                return await _client(self._base).post(f"/rest/v1/rpc/{name}", json=dict(args), headers=self._headers)
            except httpx.TransportError as error:
                if attempt == 2 or isinstance(error, httpx.TimeoutException):
                    raise IngestError(f"{name}: {type(error).__name__}: {error}") from None
            except httpx.HTTPError as error:
                raise IngestError(f"{name}: {type(error).__name__}: {error}") from None
        raise AssertionError("unreachable")

    async def find_connection(self, route: Route, *, fresh: bool = False) -> Connection | None:
        """The active connection for `route` (or its fallbacks), or None: an unknown receiving address.
        `fresh` skips the short-lived cache (after a signature failed with a cached secret)."""
        key = (self._base, route)
        cached = _CONNECTIONS.get(key)
        if cached is not None and not fresh and cached[0] > time.monotonic():
            return cached[1]
        found = await self._look_up(route)
        if found is None:
            _CONNECTIONS.pop(key, None)
        else:
            if len(_CONNECTIONS) > 10_000:
                _CONNECTIONS.clear()
            _CONNECTIONS[key] = (time.monotonic() + CONNECTION_TTL, found)
        return found

    async def _look_up(self, route: Route) -> Connection | None:
        for candidate in route.chain():
            if not ((candidate.channel and candidate.address)
                    or (candidate.provider and candidate.external_account_id)):
                continue
            rows = await self._rpc("find_webhook_connection", {
                "p_channel": candidate.channel, "p_address": candidate.address,
                "p_provider": candidate.provider, "p_external_account_id": candidate.external_account_id})
            if rows:
                row = rows[0]
                return Connection(id=row["connection_id"], tenant_id=row["tenant_id"], channel=row["channel"],
                                  provider=row["provider"], address=row["address"],
                                  external_account_id=row.get("external_account_id"), secrets=row["secrets"] or {})
        return None

    async def verify_token_known(self, provider: str, token: str) -> bool:
        """Whether an active connection of `provider` has this webhook verify token (Meta's handshake)."""
        return bool(await self._rpc("webhook_verify_token_known", {"p_provider": provider, "p_verify_token": token}))

    async def note_signature_failure(self, connection: Connection) -> None:
        """Count one delivery refused with 401 for `connection` (for the webhook_signature_failures alert; only
        a count per connection and minute is kept, nothing of the request). Never raises: the provider gets
        its 401 whether or not the count was taken."""
        try:
            await self._rpc("note_webhook_signature_failure", {"p_connection_id": connection.id})
        except Exception as error:  # a count lost must not turn the 401 into a 5xx
            log.warning("refused webhook signature not counted: %s", error)

    async def record_message(self, connection: Connection, message: InboundMessage, raw_body: bytes,
                             headers: Mapping[str, str], *, external_id: str | None = None,
                             provider: str | None = None) -> dict[str, Any]:
        """Record one inbound message; {"outcome": "recorded" | "duplicate", ...} (see the migration)."""
        args: dict[str, Any] = {
            "p_connection_id": connection.id, "p_external_id": external_id or message.external_id,
            "p_provider_message_id": message.provider_message_id, "p_sender": message.sender,
            "p_sender_name": message.sender_name, "p_body": message.body, "p_content_type": message.content_type,
            "p_media": message.media, "p_received_at": _iso(message.received_at),
            "p_raw_body": base64.b64encode(raw_body).decode(), "p_headers": dict(headers),
            "p_detail": message.detail}
        if provider:
            args["p_provider"] = provider
        return dict(await self._rpc("record_inbound_message", args))

    async def record_status(self, connection: Connection, status: StatusReport, raw_body: bytes,
                            headers: Mapping[str, str]) -> dict[str, Any]:
        """Record one status report and apply it forward-only; {"outcome": ...} (see the migration)."""
        return dict(await self._rpc("record_status_callback", {
            "p_connection_id": connection.id, "p_external_id": status.external_id,
            "p_provider_message_id": status.provider_message_id, "p_status": status.status,
            "p_at": _iso(status.at), "p_error_code": status.error_code, "p_error_message": status.error_message,
            "p_raw_body": base64.b64encode(raw_body).decode(), "p_headers": dict(headers),
            "p_message_id": status.message_id}))
