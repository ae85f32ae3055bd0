"""message.queued → send the message through its channel's adapter, effect-once (docs/channels.md).

A send is an engine job whose every step is recorded before the next is taken:

1. `message_for_sending` loads the message with its address, connection (none: the outbox adapter), window
   and threading facts, and its latest attempt. Sent, failed or unknown: nothing to do (a redelivery).
2. `adapter.check()` applies the channel's rules (24 h window, length): a refusal fails the message with the
   rule named, and no provider is called.
3. `begin_sending` commits `sending` and an open attempt *before* the provider call.
4. `adapter.send()`; the outcome is recorded on that attempt: accepted → `sent` with the provider's id;
   a permanent refusal → `failed` with the provider's reason; a retryable refusal the provider *answered*
   (429, 503) → the attempt is closed as refused and the event retried with back-off (the provider took
   nothing, so the next attempt is safe); no answer (timeout, dropped connection, 500/502/504, a crash) →
   the attempt stays open.
5. An attempt found open on a later run is in doubt: where the provider can be asked (`can_look_up`,
   Twilio) the look-up decides (found → sent with its id; not found → a new attempt is safe); otherwise the
   message becomes `unknown` for a person to decide. Never a blind second send.

On the event's last attempt nothing is left in flight: a refusal fails the message, a doubt makes it unknown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from salesflow.channels.port import (
    ChannelAdapter,
    LookupResult,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
)
from salesflow.conversations.unsubscribe import UnsubscribeRequest, unsubscribe_link
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, TenantData, handles, payload_field
from salesflow.events import types as t
from salesflow.settings import settings

log = logging.getLogger("salesflow.handlers.sending")

#: A service under this name, when the engine's process attaches one, builds adapters instead of
#: `salesflow.channels.build_adapter` (tests attach adapters of their own):
#: `factory(provider, channel, address, secrets, external_account_id) -> ChannelAdapter`.
ADAPTERS_SERVICE: Final = "channel_adapters"
AdapterFactory = Callable[[str, str, str, Mapping[str, Any], str | None], ChannelAdapter]

#: HTTP statuses whose answer does not say whether the provider took the message: the request reached it
#: and something failed on its side or on the way back (gateway timeouts), so it may have been accepted.
AMBIGUOUS_HTTP_STATUSES: Final = frozenset({500, 502, 504})

#: An attempt in doubt is looked up only once this long has passed since it began: a request our side gave
#: up on may still be being processed at the provider (our timeout is 20 s), and a look-up that runs before
#: it lands would wrongly answer "not found".
LOOKUP_GRACE: Final = timedelta(seconds=30)

#: A receipt in hand is recorded with retries before the handler gives up (an unrecorded accept would
#: otherwise become `unknown`, or for Twilio a look-up, on the next run).
RECORD_TRIES: Final = 5


def provider_may_have_accepted(error: RetryableSendError) -> bool:
    """Whether a retryable failure leaves open that the provider accepted the message (so it must not be
    sent again before it is reconciled): a timeout or dropped connection after the request went out, an
    answer without an id, or a 500 / 502 / 504."""
    return error.maybe_accepted or error.http_status in AMBIGUOUS_HTTP_STATUSES


@handles(t.MESSAGE_QUEUED)
async def send_message(event: Event, context: HandlerContext) -> None:
    """Send the queued message the event names, or reconcile it when an earlier run was interrupted."""
    raw = payload_field(event, "message_id", str)
    try:
        message_id = UUID(str(raw))
    except ValueError:
        raise MalformedPayload(event.type, "message_id", f"must be a UUID, got {raw!r}") from None
    factory: AdapterFactory = context.service(ADAPTERS_SERVICE) if ADAPTERS_SERVICE in context.services \
        else _build_adapter
    job = SendJob(context.data, message_id, factory, event_id=event.id,
                  last_attempt=event.attempts >= event.max_attempts, logger=context.logger)
    await job.run()


def _build_adapter(provider: str, channel: str, address: str, secrets: Mapping[str, Any],
                   external_account_id: str | None) -> ChannelAdapter:
    from salesflow.channels import build_adapter, outbox_adapter

    if provider == "outbox" and not secrets and address == "outbox":
        return outbox_adapter(channel)
    return build_adapter(provider, channel, address, secrets, external_account_id=external_account_id)


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class SendJob:
    """One run of the send job for one message."""

    def __init__(self, data: TenantData, message_id: UUID, adapters: AdapterFactory, *, event_id: UUID | None,
                 last_attempt: bool, logger: logging.LoggerAdapter[logging.Logger] | logging.Logger | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.data = data
        self.message_id = message_id
        self.adapters = adapters
        self.event_id = event_id
        self.last_attempt = last_attempt
        self.log = logger or log
        self.clock = clock or (lambda: datetime.now(UTC))
        self._args = {"p_tenant_id": str(data.tenant_id), "p_message_id": str(message_id)}

    async def run(self) -> None:
        facts = await self.data.rpc("message_for_sending", self._args)
        if not facts:
            self.log.info("message is gone, nothing to send", extra={"message_id": str(self.message_id)})
            return
        message = facts["message"]
        status = message["status"]
        if status not in ("queued", "sending"):
            return  # sent, failed or unknown on an earlier run: a redelivery
        try:
            adapter = self._adapter(facts)
        except ValueError as exc:  # credentials or a connection the factory refuses: a person must fix it
            await self._reject(None, "connection_invalid", str(exc))
            return
        if not facts.get("to"):
            await self._reject(None, "no_address", f"the lead has no address on {message['channel']}")
            return
        outbound = self._outbound(facts)
        attempt = facts.get("attempt") or {}
        in_doubt = status == "sending" and attempt.get("outcome") is None
        if in_doubt and not await self._reconcile(adapter, outbound, attempt):
            return
        await self._send(adapter, outbound)

    # -- building ----------------------------------------------------------------------------------------

    def _adapter(self, facts: Mapping[str, Any]) -> ChannelAdapter:
        channel = facts["message"]["channel"]
        connection = facts.get("connection")
        if not connection:
            return self.adapters("outbox", channel, "outbox", {}, None)
        return self.adapters(connection["provider"], channel, connection["address"], connection.get("secrets") or {},
                             connection.get("external_account_id"))

    def _outbound(self, facts: Mapping[str, Any]) -> OutboundMessage:
        m = facts["message"]
        connection = facts.get("connection") or {}
        cfg = settings()
        unsubscribe = None
        callback = None
        if cfg.SUPABASE_URL and cfg.SUPABASE_SERVICE_ROLE_KEY:
            if m["channel"] == "email":
                unsubscribe = unsubscribe_link(
                    cfg.SUPABASE_URL,
                    UnsubscribeRequest(UUID(str(m["tenant_id"])), UUID(str(m["lead_id"])), "email", self.message_id),
                    cfg.SUPABASE_SERVICE_ROLE_KEY)
            if connection.get("provider") == "twilio":
                callback = f"{cfg.SUPABASE_URL}/functions/v1/twilio-webhook"
        references = [str(r) for r in facts.get("references") or []]
        return OutboundMessage(
            message_id=self.message_id,
            tenant_id=UUID(str(m["tenant_id"])),
            lead_id=UUID(str(m["lead_id"])),
            channel=m["channel"],
            to=str(facts["to"]),
            sender=str(connection.get("address") or "outbox"),
            content_type=m["content_type"],
            body=m.get("body"),
            template_name=m.get("template_name"),
            template_language=facts.get("locale"),
            template_variables=m.get("template_variables"),
            media=m.get("media"),
            idempotency_key=m.get("idempotency_key"),
            in_reply_to=facts.get("in_reply_to"),
            references=tuple(references),
            last_inbound_at=_when(facts.get("last_inbound_at")),
            human_agent=m.get("sent_by") in ("user", "inbox"),
            unsubscribe_url=unsubscribe,
            status_callback_url=callback,
            queued_at=_when(m.get("queued_at")),
            sending_at=_when(m.get("sending_at")),
        )

    # -- the steps -------------------------------------------------------------------------------------------

    async def _send(self, adapter: ChannelAdapter, outbound: OutboundMessage) -> None:
        try:
            adapter.check(outbound, self.clock())
        except PermanentSendError as exc:
            await self._reject(None, exc.code, exc.reason)
            return
        begun = await self.data.rpc("begin_sending", {**self._args, "p_event_id": str(self.event_id)
                                                      if self.event_id else None})
        if begun["outcome"] != "begun":
            # refused (opted out: failed in SQL), done, gone, or in doubt because another run began meanwhile
            self.log.info("send not begun", extra={"message_id": str(self.message_id), **begun})
            return
        attempt = int(begun["attempt"])
        try:
            receipt = await adapter.send(outbound)
        except PermanentSendError as exc:
            await self._outcome(attempt, "rejected", error=exc)
            return
        except RetryableSendError as exc:
            if provider_may_have_accepted(exc):
                await self._in_doubt_after_send(adapter, attempt, exc)
                return
            await self._outcome(attempt, "refused", error=exc)
            if self.last_attempt:
                await self._reject(None, exc.code, f"gave up after the event's last attempt: {exc.reason}")
                return
            raise RetryLater(f"{exc.code}: {exc.reason}", exc.retry_after) from exc
        # Anything else (a bug, cancellation when the lease runs out) leaves the attempt open: reconciled later.
        await self._accepted(attempt, receipt)

    async def _in_doubt_after_send(self, adapter: ChannelAdapter, attempt: int, exc: RetryableSendError) -> None:
        """No answer from the provider: look it up later where it can be asked, else unknown now."""
        if adapter.can_look_up and not self.last_attempt:
            raise RetryLater(f"{exc.code}: {exc.reason} (the provider may have accepted it; looking it up later)",
                             LOOKUP_GRACE.total_seconds()) from exc
        await self._unknown(attempt, adapter, f"{exc.code}: {exc.reason}")

    async def _reconcile(self, adapter: ChannelAdapter, outbound: OutboundMessage, attempt: Mapping[str, Any]) -> bool:
        """An attempt without an outcome (an earlier run stopped inside the provider call). True when the
        provider says it never took the message, so a new attempt may send it."""
        number = attempt.get("attempt")
        if number is None:
            # `sending` without an attempt row (recorded by someone else): nobody knows what happened
            await self._unknown(None, adapter, "the message was marked sending outside the send job")
            return False
        number = int(number)
        started = _when(attempt.get("started_at")) or self.clock()
        if not adapter.can_look_up:
            await self._unknown(number, adapter, "the send job stopped inside the provider call")
            return False
        wait = (started + LOOKUP_GRACE - self.clock()).total_seconds()
        if wait > 0 and not self.last_attempt:
            raise RetryLater(f"attempt {number} began {started.isoformat()}: looking it up once it cannot still "
                             "be landing at the provider", wait)
        try:
            found = await adapter.look_up(outbound)
        except SendError as exc:
            if self.last_attempt or isinstance(exc, PermanentSendError):
                await self._unknown(number, adapter, f"the look-up failed: {exc.code}: {exc.reason}")
                return False
            raise RetryLater(f"look-up failed: {exc.code}: {exc.reason}",
                             getattr(exc, "retry_after", None)) from exc
        return await self._apply_look_up(number, adapter, found)

    async def _apply_look_up(self, attempt: int, adapter: ChannelAdapter, found: LookupResult | None) -> bool:
        if found is None:
            await self._unknown(attempt, adapter, "the provider could not be asked")
            return False
        if found.status == "not_found":
            applied = await self._outcome(attempt, "not_found")
            self.log.info("in-doubt attempt not found at the provider: sending is safe",
                          extra={"message_id": str(self.message_id), "attempt": attempt})
            return applied
        if found.status == "failed":
            await self._outcome(attempt, "rejected", code=found.error_code or "provider_failed",
                                reason=found.error_message or "the provider reports the message failed")
            return False
        if not found.provider_message_id:
            await self._unknown(attempt, adapter, f"the provider reports it {found.status} but names no id")
            return False
        await self._accepted(attempt, SendReceipt(found.provider_message_id, self.clock(),
                                                  detail={"reconciled": True, "status": found.status}))
        if found.status in ("delivered", "read"):
            message = await self.data.rpc("message_for_sending", self._args)
            if message:
                await self.data.rpc("apply_message_status", {
                    "p_tenant_id": str(self.data.tenant_id), "p_channel": message["message"]["channel"],
                    "p_provider_message_id": found.provider_message_id, "p_status": found.status})
        return False

    # -- recording -------------------------------------------------------------------------------------------

    async def _accepted(self, attempt: int, receipt: SendReceipt) -> None:
        detail: dict[str, Any] = dict(receipt.detail)
        if receipt.segments is not None:
            detail["segments"] = receipt.segments
        for tries in range(1, RECORD_TRIES + 1):
            try:
                await self._outcome(attempt, "accepted", provider_message_id=receipt.provider_message_id,
                                    detail=detail, at=receipt.accepted_at)
                return
            except Exception:
                if tries == RECORD_TRIES:
                    raise  # the attempt stays open: the next run reconciles it
                self.log.warning("recording an accepted send failed; trying again",
                                 extra={"message_id": str(self.message_id), "try": tries}, exc_info=True)
                await asyncio.sleep(0.2 * 2 ** tries)

    async def _unknown(self, attempt: int | None, adapter: ChannelAdapter, why: str) -> None:
        reason = (f"{why}; {adapter.provider} may or may not have delivered it, and it cannot be asked, so it is "
                  "not sent again: check the conversation at the provider and mark the message sent or failed")
        if attempt is None:
            await self.data.update("messages", {"status": "unknown", "error_code": "outcome_unknown",
                                                "error_message": reason[:2000]},
                                   {"id": str(self.message_id), "status": "sending"})
            return
        await self._outcome(attempt, "unanswered", code="outcome_unknown", reason=reason)
        self.log.warning("send outcome unknown", extra={"message_id": str(self.message_id), "attempt": attempt,
                                                        "provider": adapter.provider})

    async def _reject(self, attempt: int | None, code: str, reason: str) -> None:
        await self._outcome(attempt, "rejected", code=code, reason=reason)
        self.log.info("send refused", extra={"message_id": str(self.message_id), "error_code": code})

    async def _outcome(self, attempt: int | None, outcome: str, *, error: SendError | None = None,
                       code: str | None = None, reason: str | None = None, provider_message_id: str | None = None,
                       detail: Mapping[str, Any] | None = None, at: datetime | None = None) -> bool:
        result = await self.data.rpc("record_send_outcome", {
            **self._args,
            "p_attempt": attempt,
            "p_outcome": outcome,
            "p_provider_message_id": provider_message_id,
            "p_provider_detail": dict(detail) if detail is not None else None,
            "p_error_code": (error.code if error else code),
            "p_error_message": ((error.reason if error else reason) or "")[:2000] or None,
            "p_at": at.isoformat() if at else None,
        })
        if result.get("conflict"):
            # The provider id found already belongs to another message (a look-up that matched a twin):
            # nobody can tell which one this is.
            await self.data.rpc("record_send_outcome", {
                **self._args, "p_attempt": attempt, "p_outcome": "unanswered", "p_error_code": "outcome_unknown",
                "p_error_message": f"the provider's message {provider_message_id} is already another message's"})
            return False
        return bool(result.get("applied"))
