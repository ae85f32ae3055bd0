"""Meta webhooks: WhatsApp Cloud API (`object: whatsapp_business_account`) and Instagram Messaging
(`object: instagram`), read into provider-neutral messages and status reports.

Only what SalesFlow uses is modelled (extra fields are allowed: Meta adds fields without notice); what is
modelled is required where Meta always sends it, so a malformed body is refused naming the field. Message
kinds SalesFlow cannot show (reactions, unsupported, system notices) are skipped, not refused: refusing would
make Meta retry a delivery that can never succeed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salesflow.channels.addresses import normalise_address, try_normalise_address
from salesflow.channels.inbound.errors import InvalidDelivery, from_validation_error, parse_json, validate
from salesflow.channels.inbound.items import Delivery, InboundMessage, Route, StatusReport


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- WhatsApp Cloud API -----------------------------------------------------------------------------------


class WaMetadata(_Model):
    phone_number_id: str = Field(min_length=1)
    display_phone_number: str | None = None


class WaProfile(_Model):
    name: str | None = None


class WaContact(_Model):
    wa_id: str | None = None
    profile: WaProfile | None = None


class WaText(_Model):
    body: str


class WaMedia(_Model):
    id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None


class WaLocation(_Model):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class WaButton(_Model):
    text: str | None = None
    payload: str | None = None


class WaReply(_Model):
    id: str | None = None
    title: str | None = None


class WaInteractive(_Model):
    type: str | None = None
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaContext(_Model):
    id: str | None = None


class WaMessage(_Model):
    from_: str = Field(alias="from", min_length=1)
    id: str = Field(min_length=1, max_length=300)
    timestamp: str
    type: str
    text: WaText | None = None
    image: WaMedia | None = None
    sticker: WaMedia | None = None
    audio: WaMedia | None = None
    voice: WaMedia | None = None
    video: WaMedia | None = None
    document: WaMedia | None = None
    location: WaLocation | None = None
    button: WaButton | None = None
    interactive: WaInteractive | None = None
    context: WaContext | None = None


class WaError(_Model):
    code: int | str | None = None
    title: str | None = None
    message: str | None = None


class WaStatus(_Model):
    id: str = Field(min_length=1, max_length=300)
    status: str
    timestamp: str
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: list[WaError] = []


class WaValue(_Model):
    messaging_product: str | None = None
    metadata: WaMetadata
    contacts: list[WaContact] = []
    messages: list[WaMessage] = []
    statuses: list[WaStatus] = []


class WaChange(_Model):
    field: str
    value: dict[str, Any]


class WaEntry(_Model):
    id: str
    changes: list[WaChange]


class WhatsAppWebhook(_Model):
    object: Literal["whatsapp_business_account"]
    entry: list[WaEntry]


# --- Instagram Messaging ----------------------------------------------------------------------------------


class IgParty(_Model):
    id: str = Field(min_length=1)


class IgAttachmentPayload(_Model):
    url: str | None = None


class IgAttachment(_Model):
    type: str
    payload: IgAttachmentPayload | None = None


class IgMessage(_Model):
    mid: str = Field(min_length=1, max_length=300)
    text: str | None = None
    attachments: list[IgAttachment] = []
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class IgRead(_Model):
    mid: str = Field(min_length=1, max_length=300)


class IgMessaging(_Model):
    sender: IgParty
    recipient: IgParty
    timestamp: int
    message: IgMessage | None = None
    read: IgRead | None = None


class IgEntry(_Model):
    id: str = Field(min_length=1)
    time: int | None = None
    messaging: list[IgMessaging] = []


class InstagramWebhook(_Model):
    object: Literal["instagram"]
    entry: list[IgEntry]


# --- reading ----------------------------------------------------------------------------------------------

_WA_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
_WA_MEDIA = {"image": "image", "sticker": "image", "audio": "audio", "voice": "audio", "video": "document",
             "document": "document"}


def _epoch(seconds: str | int | float) -> datetime | None:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return None
    if value > 1e11:  # milliseconds (Instagram)
        value /= 1000
    return datetime.fromtimestamp(value, UTC)


def _uuid(text: str | None) -> str | None:
    """`text` if it is a UUID (the send job's message id), else None (someone else's callback data)."""
    if not text:
        return None
    try:
        return str(UUID(text))
    except ValueError:
        return None


def _sender(channel: str, raw: str, field: str) -> str:
    try:
        return normalise_address(channel, raw)
    except ValueError as error:
        raise InvalidDelivery(field, str(error)) from None


def _wa_content(message: WaMessage) -> tuple[str, str | None, dict[str, Any] | None] | None:
    """(content_type, body, media) of a WhatsApp message, or None for a kind SalesFlow skips."""
    kind = message.type
    if kind == "text" and message.text:
        return "text", message.text.body, None
    if kind in _WA_MEDIA:
        media: WaMedia | None = getattr(message, kind)
        if media is None:
            return None
        described = {"kind": kind, **media.model_dump(exclude_none=True, exclude={"caption"})}
        return _WA_MEDIA[kind], media.caption, described
    if kind == "button" and message.button and message.button.text:
        return "text", message.button.text, None
    if kind == "interactive" and message.interactive:
        reply = message.interactive.button_reply or message.interactive.list_reply
        if reply and reply.title:
            return "text", reply.title, None
    if kind == "location" and message.location:
        where = message.location
        label = ", ".join(x for x in (where.name, where.address) if x)
        body = f"Location: {label} ({where.latitude}, {where.longitude})" if label else \
            f"Location: {where.latitude}, {where.longitude}"
        return "text", body, {"kind": "location", "latitude": where.latitude, "longitude": where.longitude}
    return None


def read_whatsapp(raw_body: bytes) -> Delivery:
    """The messages and status reports of a WhatsApp Cloud API webhook body; InvalidDelivery if malformed."""
    hook = validate(WhatsAppWebhook, parse_json(raw_body))
    delivery = Delivery()
    for e, entry in enumerate(hook.entry):
        for c, change in enumerate(entry.changes):
            if change.field != "messages":
                continue  # account updates, template reviews: nothing to record
            prefix = f"entry.{e}.changes.{c}.value"
            try:
                value = WaValue.model_validate(change.value)
            except ValidationError as error:  # named from the delivery's root, not the change's
                inner = from_validation_error(error)
                raise InvalidDelivery(f"{prefix}.{inner.field}", inner.message) from None
            display = value.metadata.display_phone_number
            by_number = try_normalise_address("whatsapp", display) if display else None
            route = Route(provider="whatsapp_cloud", external_account_id=value.metadata.phone_number_id,
                          fallback=Route(channel="whatsapp", address=by_number) if by_number else None)
            names = {contact.wa_id: contact.profile.name for contact in value.contacts
                     if contact.wa_id and contact.profile and contact.profile.name}
            for m, message in enumerate(value.messages):
                content = _wa_content(message)
                if content is None:
                    continue
                content_type, body, media = content
                if content_type == "text" and not body:
                    continue
                detail: dict[str, Any] = {"type": message.type}
                if message.context and message.context.id:
                    detail["in_reply_to"] = message.context.id
                delivery.add_message(route, InboundMessage(
                    external_id=message.id, provider_message_id=message.id,
                    sender=_sender("whatsapp", message.from_, f"{prefix}.messages.{m}.from"),
                    sender_name=names.get(message.from_), content_type=content_type, body=body, media=media,
                    received_at=_epoch(message.timestamp), detail=detail))
            for status in value.statuses:
                problem = status.errors[0] if status.errors else None
                delivery.add_status(route, StatusReport(
                    external_id=f"{status.id}:{status.status}", provider_message_id=status.id,
                    status=_WA_STATUSES.get(status.status), at=_epoch(status.timestamp),
                    error_code=None if problem is None or problem.code is None else str(problem.code),
                    error_message=None if problem is None else (problem.message or problem.title),
                    message_id=_uuid(status.biz_opaque_callback_data)))
    return delivery


_IG_MEDIA = {"image": "image", "audio": "audio", "video": "document", "file": "document"}


def read_instagram(raw_body: bytes) -> Delivery:
    """The messages and read reports of an Instagram Messaging webhook body; InvalidDelivery if malformed."""
    hook = validate(InstagramWebhook, parse_json(raw_body))
    delivery = Delivery()
    for e, entry in enumerate(hook.entry):
        route = Route(provider="instagram_messaging", external_account_id=entry.id,
                      fallback=Route(channel="instagram", address=entry.id) if entry.id.isdigit() else None)
        for n, event in enumerate(entry.messaging):
            prefix = f"entry.{e}.messaging.{n}"
            if event.message is not None:
                message = event.message
                if message.is_echo or message.is_deleted or message.is_unsupported:
                    continue  # our own sends echoed back, deletions: nothing from the lead to record
                attachment = message.attachments[0] if message.attachments else None
                if message.text:
                    content_type, media = "text", None
                elif attachment is not None and attachment.type in _IG_MEDIA:
                    content_type = _IG_MEDIA[attachment.type]
                    media = {"kind": attachment.type,
                             **({"url": attachment.payload.url} if attachment.payload and attachment.payload.url
                                else {})}
                else:
                    continue
                delivery.add_message(route, InboundMessage(
                    external_id=message.mid, provider_message_id=message.mid,
                    sender=_sender("instagram", event.sender.id, f"{prefix}.sender.id"),
                    content_type=content_type, body=message.text, media=media,
                    received_at=_epoch(event.timestamp), detail={"type": "message"}))
            elif event.read is not None:
                delivery.add_status(route, StatusReport(
                    external_id=f"{event.read.mid}:read", provider_message_id=event.read.mid, status="read",
                    at=_epoch(event.timestamp)))
    return delivery
