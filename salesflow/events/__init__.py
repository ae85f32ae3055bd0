"""The event engine: claims outbox events, runs their handlers, records every delivery.

It knows nothing about leads (handlers do) nor about how it reaches the database (transports do).
Public surface: `handles`, `HandlerContext`, `RetryLater`, `PermanentFailure`, `MalformedPayload`,
`payload_field`, and the ports in `salesflow.events.ports`.
"""

from salesflow.events.context import HandlerContext, payload_field
from salesflow.events.errors import MalformedPayload, PermanentFailure, RetryLater
from salesflow.events.ports import Event, TenantData
from salesflow.events.registry import handles

__all__ = [
    "Event",
    "HandlerContext",
    "MalformedPayload",
    "PermanentFailure",
    "RetryLater",
    "TenantData",
    "handles",
    "payload_field",
]
