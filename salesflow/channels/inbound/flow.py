"""What every webhook function does with a delivery, in this order:

1. read it with its pydantic models (400 naming the field; nothing stored);
2. find the connection of every receiving address it names (404 when one is unknown; nothing stored) —
   before the signature can be checked, since the secret is the connection's;
3. check the signature with each connection's secret (401; nothing of the request stored, only a count per
   connection and minute for the webhook_signature_failures alert);
4. record each message and status report (one transaction each, idempotent: a redelivery stores nothing new)
   and answer 200 at once: processing happens in the handlers of message.received.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from starlette.responses import JSONResponse, Response

from salesflow.channels.inbound.errors import InvalidDelivery
from salesflow.channels.inbound.ingest import Connection, IngestApi, IngestError
from salesflow.channels.inbound.items import Delivery

log = logging.getLogger("salesflow.webhooks")

# Never kept with the raw delivery: credentials (basic auth of inbound email) and the project's keys.
_UNSTORED_HEADERS = frozenset({"authorization", "cookie", "apikey", "proxy-authorization"})


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers worth keeping in the audit trail (lower-case names; no credentials)."""
    return {name.lower(): value for name, value in headers.items() if name.lower() not in _UNSTORED_HEADERS}


def bad_request(error: InvalidDelivery) -> Response:
    return JSONResponse({"error": "invalid_delivery", "field": error.field, "message": str(error)}, status_code=400)


def unauthorized(message: str) -> Response:
    return JSONResponse({"error": "invalid_signature", "message": message}, status_code=401)


def unknown_address(message: str) -> Response:
    return JSONResponse({"error": "unknown_receiving_address", "message": message}, status_code=404)


def unavailable(error: IngestError) -> Response:
    log.warning("webhook not recorded: %s", error)
    return JSONResponse({"error": "not_recorded", "message": "the delivery could not be recorded; retry later"},
                        status_code=503)


def method_not_allowed(allowed: str) -> Response:
    return JSONResponse({"error": "method_not_allowed", "message": f"use {allowed}"}, status_code=405,
                        headers={"Allow": allowed})


async def resolve(api: IngestApi, delivery: Delivery) -> dict[Any, Connection] | Response:
    """The connection of every route in `delivery`, or the 404 naming the first unknown one."""
    connections: dict[Any, Connection] = {}
    for route in delivery.routes:
        connection = await api.find_connection(route)
        if connection is None:
            named = route.address or route.external_account_id
            return unknown_address(f"no connected channel receives at {named!r}")
        connections[route] = connection
    return connections


class _Answer(Exception):
    """Stop recording and answer this (a connection changed under a delivery and no longer takes it)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def record(api: IngestApi, delivery: Delivery, connections: dict[Any, Connection], raw_body: bytes,
                 headers: Mapping[str, str], signed_by: Callable[[Connection], bool], missing_signature: str
                 ) -> Response:
    """Record every item of a verified delivery; 200 with what was new."""
    summary = {"recorded": 0, "duplicates": 0, "statuses": 0}

    async def once(route: Any, call: Callable[[Connection], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        try:
            return await call(connections[route])
        except IngestError as error:
            if not error.connection_gone:
                raise
            # a cached connection that was disconnected (or reconnected anew) meanwhile: ask once more
            current = await api.find_connection(route, fresh=True)
            if current is None:
                named = route.address or route.external_account_id
                raise _Answer(unknown_address(f"no connected channel receives at {named!r}")) from None
            if current.id == connections[route].id:
                raise
            if not signed_by(current):  # another connection now: its own secret must have signed it
                await api.note_signature_failure(current)
                raise _Answer(unauthorized(missing_signature)) from None
            connections[route] = current
            return await call(current)

    for route, messages in delivery.messages.items():
        for message in messages:
            outcome = await once(route, partial(api.record_message, message=message, raw_body=raw_body,
                                                headers=headers))
            summary["recorded" if outcome.get("outcome") == "recorded" else "duplicates"] += 1
    for route, statuses in delivery.statuses.items():
        for status in statuses:
            outcome = await once(route, partial(api.record_status, status=status, raw_body=raw_body, headers=headers))
            summary["duplicates" if outcome.get("outcome") == "duplicate" else "statuses"] += 1
    return JSONResponse(summary)


async def ingest(api: IngestApi, delivery: Delivery, raw_body: bytes, headers: Mapping[str, str],
                 signed_by: Callable[[Connection], bool], missing_signature: str) -> Response:
    """Resolve, verify and record a read delivery (steps 2-4 above)."""
    if not delivery.routes:
        return JSONResponse({"recorded": 0, "duplicates": 0, "statuses": 0, "note": "nothing to record"})
    try:
        connections = await resolve(api, delivery)
        if isinstance(connections, Response):
            return connections
        for route, connection in list(connections.items()):
            if signed_by(connection):
                continue
            # maybe a cached secret that was just rotated: once more with the connection as it is now
            current = await api.find_connection(route, fresh=True)
            if current is None:
                named = route.address or route.external_account_id
                return unknown_address(f"no connected channel receives at {named!r}")
            if current == connection or not signed_by(current):
                await api.note_signature_failure(current)
                return unauthorized(missing_signature)
            connections[route] = current
        return await record(api, delivery, connections, raw_body, stored_headers(headers), signed_by,
                            missing_signature)
    except _Answer as answer:
        return answer.response
    except IngestError as error:
        return unavailable(error)
