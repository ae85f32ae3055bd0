"""What a webhook delivery carries, provider-neutral: messages to record and status reports to apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Route:
    """How a delivery names the receiving side: channel + address, or provider + the provider's account id."""

    channel: str | None = None
    address: str | None = None
    provider: str | None = None
    external_account_id: str | None = None
    # tried when no connection answers this route (e.g. WhatsApp's display number after its phone_number_id)
    fallback: Route | None = None

    def chain(self) -> list[Route]:
        """This route and its fallbacks, in the order to try them."""
        routes: list[Route] = []
        route: Route | None = self
        while route is not None:
            routes.append(route)
            route = route.fallback
        return routes


@dataclass(frozen=True)
class InboundMessage:
    """One message from a lead, its sender address already normalised."""

    external_id: str
    provider_message_id: str
    sender: str
    content_type: str = "text"
    body: str | None = None
    sender_name: str | None = None
    media: dict[str, Any] | None = None
    received_at: datetime | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class StatusReport:
    """A provider's report on an outbound message; `status` is sent | delivered | read | failed, or None
    when the report has nothing to apply (it is still recorded)."""

    external_id: str
    provider_message_id: str
    status: str | None
    at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    # our own id of the message, when the provider echoes it (WhatsApp's biz_opaque_callback_data): settles a
    # message whose provider id was never recorded (a crash between the provider's accept and our record)
    message_id: str | None = None


@dataclass
class Delivery:
    """Everything one webhook request carries, grouped by the route it is for."""

    messages: dict[Route, list[InboundMessage]] = field(default_factory=dict)
    statuses: dict[Route, list[StatusReport]] = field(default_factory=dict)

    def add_message(self, route: Route, message: InboundMessage) -> None:
        self.messages.setdefault(route, []).append(message)

    def add_status(self, route: Route, status: StatusReport) -> None:
        self.statuses.setdefault(route, []).append(status)

    @property
    def routes(self) -> list[Route]:
        return list(dict.fromkeys([*self.messages, *self.statuses]))
