"""Queueing an outbound message: the one way every flow (CLI, inbox, sequences, autopilot, demo) asks for a send.

`queue_message` validates the request (pydantic: channel, exactly one of text or template, the channel's
length limit), finds the lead's address on the channel (an identity, or the lead's own phone / email
normalised and recorded as one), finds or starts the conversation and inserts the message as `queued`. The
insert's trigger publishes `message.queued`, and the send job (`salesflow.handlers.sending`) takes it from
there. With an `idempotency_key` a retried or doubled request queues one message and returns that one.

The database keeps the promises (the opt-out trigger refuses a send to an opted-out lead whoever inserts it);
the checks here only refuse early with a message a person can act on.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from salesflow.channels.addresses import try_normalise_address
from salesflow.channels.rules import CONTENT_TYPES, LENGTH_LIMITS
from salesflow.conversations.vocabulary import MESSAGE_CHANNELS, SENT_BY
from salesflow.events.ports import TenantData

#: Which lead fields hold a lead's address on each channel, most specific first.
ADDRESS_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "whatsapp": ("whatsapp", "phone"),
    "sms": ("phone", "whatsapp"),
    "email": ("email",),
    "instagram": ("instagram",),
}

MESSAGE_COLUMNS: Final = (
    "id", "conversation_id", "lead_id", "channel", "direction", "content_type", "body", "template_name",
    "template_variables", "status", "sent_by", "idempotency_key", "provider_message_id", "error_code",
    "error_message", "queued_at", "sending_at", "sent_at", "failed_at", "unknown_at", "created_at",
)


class SendRefused(ValueError):
    """The message cannot be queued (no address on the channel, the lead opted out, an unknown lead).

    `field` names the input the refusal is about, for `error: <field>: <what>` messages."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class QueueRequest(BaseModel):
    """What a caller asks to send. Exactly one of `text` or `template`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    channel: str
    text: str | None = Field(default=None, min_length=1)
    template: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[a-z0-9_]+$")
    template_variables: dict[str, Any] | list[Any] | None = None
    sent_by: str = "user"
    sent_by_user_id: UUID | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _coherent(self) -> QueueRequest:
        if self.channel not in MESSAGE_CHANNELS:
            raise ValueError(f"channel: must be one of {', '.join(MESSAGE_CHANNELS)} (got {self.channel!r})")
        if self.sent_by not in SENT_BY:
            raise ValueError(f"sent_by: must be one of {', '.join(SENT_BY)} (got {self.sent_by!r})")
        if (self.text is None) == (self.template is None):
            raise ValueError("text: give exactly one of text or template")
        if self.text is not None:
            if not self.text.strip():
                raise ValueError("text: must not be blank")
            limit = LENGTH_LIMITS[self.channel]
            if len(self.text) > limit:
                raise ValueError(f"text: {len(self.text)} characters, over the {self.channel} limit of {limit}")
            if self.template_variables is not None:
                raise ValueError("template_variables: only with a template")
        elif "template" not in CONTENT_TYPES[self.channel]:
            allowed = [c for c in MESSAGE_CHANNELS if "template" in CONTENT_TYPES[c]]
            raise ValueError(f"template: templates are sent on {', '.join(allowed)} only, not on {self.channel}")
        return self

    @property
    def content_type(self) -> str:
        return "template" if self.template is not None else "text"


async def lead_address(data: TenantData, lead: dict[str, Any], channel: str) -> str:
    """The lead's normalised address on `channel`: its newest identity there, else the lead's own field
    (phone, WhatsApp number, email) normalised and recorded as an identity. Raises SendRefused."""
    found = await data.select("channel_identities", {"lead_id": lead["id"], "channel": channel},
                              columns=["address", "created_at"])
    if found:
        return str(max(found, key=lambda r: str(r["created_at"]))["address"])
    for name in ADDRESS_FIELDS[channel]:
        raw = lead.get(name)
        address = try_normalise_address(channel, raw) if isinstance(raw, str) and raw.strip() else None
        if address is None:
            continue
        await data.insert("channel_identities", [{"lead_id": lead["id"], "channel": channel, "address": address}],
                          on_conflict=["tenant_id", "channel", "address"], ignore_duplicates=True)
        owner = await data.select("channel_identities", {"channel": channel, "address": address},
                                  columns=["lead_id"], limit=1)
        if owner and str(owner[0]["lead_id"]) != str(lead["id"]):
            raise SendRefused("lead_id", f"the lead's {name} {address} on {channel} belongs to lead "
                                         f"{owner[0]['lead_id']} (link the identity first)")
        return address
    fields = " or ".join(ADDRESS_FIELDS[channel])
    raise SendRefused("channel", f"lead {lead['id']} has no address on {channel} (no identity, no usable {fields})")


async def queue_message(
    data: TenantData,
    lead_id: UUID | str,
    channel: str,
    text: str | None = None,
    template: str | None = None,
    template_variables: dict[str, Any] | list[Any] | None = None,
    sent_by: str = "user",
    idempotency_key: str | None = None,
    sent_by_user_id: UUID | str | None = None,
) -> dict[str, Any]:
    """Queue one outbound message for the send job and return its row (status `queued`, or whatever the
    message queued earlier under the same `idempotency_key` has become by now).

    Raises pydantic's ValidationError for malformed input (the message names the field) and SendRefused
    when the lead cannot be sent to on the channel (unknown lead, no address, opted out).
    """
    request = QueueRequest(
        lead_id=lead_id, channel=channel, text=text, template=template,  # type: ignore[arg-type]
        template_variables=template_variables, sent_by=sent_by, sent_by_user_id=sent_by_user_id,  # type: ignore[arg-type]
        idempotency_key=idempotency_key,
    )
    if request.idempotency_key is not None:
        earlier = await _by_key(data, request.idempotency_key)
        if earlier is not None:
            return _same_request(earlier, request)
    leads = await data.select("leads", {"id": str(request.lead_id)},
                              columns=["id", "email", "phone", "whatsapp", "instagram"], limit=1)
    if not leads:
        raise SendRefused("lead_id", f"no lead {request.lead_id} in this tenant")
    consent = await data.select("consents", {"lead_id": str(request.lead_id), "channel": request.channel,
                                             "status": "opted_out"}, columns=["id", "changed_at", "method"], limit=1)
    if consent:
        c = consent[0]
        raise SendRefused("lead_id", f"the lead opted out of {request.channel} (consent {c['id']}, opted out at "
                                     f"{c['changed_at']} by {c['method']}): nothing is sent to them on it")
    await lead_address(data, leads[0], request.channel)
    conversation = await _conversation(data, str(request.lead_id), request.channel)
    row: dict[str, Any] = {
        "conversation_id": conversation, "lead_id": str(request.lead_id), "channel": request.channel,
        "direction": "out", "status": "queued", "content_type": request.content_type, "body": request.text,
        "template_name": request.template, "template_variables": request.template_variables,
        "sent_by": request.sent_by, "idempotency_key": request.idempotency_key,
        "sent_by_user_id": str(request.sent_by_user_id) if request.sent_by_user_id else None,
    }
    if request.idempotency_key is None:
        inserted = await data.insert("messages", [row])
    else:
        inserted = await data.insert("messages", [row], on_conflict=["tenant_id", "idempotency_key"],
                                     ignore_duplicates=True)
        if not inserted:  # queued by a concurrent request with the same key
            earlier = await _by_key(data, request.idempotency_key)
            assert earlier is not None
            return _same_request(earlier, request)
    return {k: inserted[0].get(k) for k in MESSAGE_COLUMNS}


async def message_status(data: TenantData, message_id: UUID | str) -> dict[str, Any] | None:
    """The message's row (the columns callers show), or None."""
    rows = await data.select("messages", {"id": str(message_id)}, columns=list(MESSAGE_COLUMNS), limit=1)
    return rows[0] if rows else None


async def _by_key(data: TenantData, key: str) -> dict[str, Any] | None:
    rows = await data.select("messages", {"idempotency_key": key}, columns=list(MESSAGE_COLUMNS), limit=1)
    return rows[0] if rows else None


def _same_request(earlier: dict[str, Any], request: QueueRequest) -> dict[str, Any]:
    if str(earlier["lead_id"]) != str(request.lead_id) or earlier["channel"] != request.channel:
        raise SendRefused("idempotency_key", f"{request.idempotency_key!r} already queued message {earlier['id']} "
                                             f"to another lead or channel")
    return earlier


async def _conversation(data: TenantData, lead_id: str, channel: str) -> str:
    """The conversation of the lead on the channel, started if there is none (one per lead and channel)."""
    found = await data.select("conversations", {"lead_id": lead_id, "channel": channel}, columns=["id"], limit=1)
    if found:
        return str(found[0]["id"])
    await data.insert("conversations", [{"lead_id": lead_id, "channel": channel}],
                      on_conflict=["tenant_id", "lead_id", "channel"], ignore_duplicates=True)
    found = await data.select("conversations", {"lead_id": lead_id, "channel": channel}, columns=["id"], limit=1)
    return str(found[0]["id"])
