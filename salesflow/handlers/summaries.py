"""Rolling conversation summaries, off the reply path.

message.received → `schedule_summary`: one cheap SQL call sizes the conversation's unsummarised tail; when it
passed the threshold, it publishes `conversation.summary_due` (unless one is already pending for the
conversation). conversation.summary_due → `refresh_summary`: the AI call (`conversation_summary`) and the
summary row.

Why a second event rather than summarising inside the message.received handler: the engine runs an event's
handlers one after another, and one ordering key's events one at a time. An AI call there would delay the
other message.received handlers (opt-out, stitching, facts, the reply) and the lead's next message. The
summary_due event has its own ordering key, `summary:<conversation id>`, so it is claimed and retried on its
own: a slow or failing model never holds back the lead's inbound events, and two summaries of one
conversation never run at once.

Both handlers are idempotent: a redelivered message.received at most publishes another summary_due, and
refresh_summary writes nothing when the tail is no longer due or the same range was summarised already
(unique per conversation and last message).
"""

from __future__ import annotations

from uuid import UUID

from salesflow.ai import BudgetExceeded, StoreUnavailable
from salesflow.ai.service import make_orchestrator
from salesflow.conversations import summaries
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, handles, payload_field
from salesflow.events import types as t


def _uuid(event: Event, name: str) -> str:
    raw = payload_field(event, name, str)
    try:
        return str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, name, f"must be a UUID, got {raw!r}") from None


def summary_key(conversation_id: str) -> str:
    """The ordering key of a conversation's summary events."""
    return f"summary:{conversation_id}"


async def _publish_due(context: HandlerContext, conversation_id: str, lead_id: str | None, message_id: str | None,
                       tail_tokens: int) -> None:
    key = summary_key(conversation_id)
    pending = await context.data.select(
        "events", {"type": t.CONVERSATION_SUMMARY_DUE, "ordering_key": key, "status": "pending"},
        columns=["id"], limit=1,
    )
    if pending:
        return  # one waiting is enough: it summarises whatever the tail is when it runs
    await context.publish(
        t.CONVERSATION_SUMMARY_DUE,
        {"conversation_id": conversation_id, "lead_id": lead_id, "message_id": message_id, "tail_tokens": tail_tokens},
        ordering_key=key,
    )


@handles(t.MESSAGE_RECEIVED)
async def schedule_summary(event: Event, context: HandlerContext) -> None:
    """Publish conversation.summary_due when the conversation's unsummarised tail passed the threshold."""
    conversation_id = _uuid(event, "conversation_id")
    due = await summaries.summary_due(context.data, conversation_id)
    if due is None:
        return
    await _publish_due(context, conversation_id, str(due["lead_id"]),
                       payload_field(event, "message_id", str, required=False), int(due["tail_tokens"]))


@handles(t.CONVERSATION_SUMMARY_DUE)
async def refresh_summary(event: Event, context: HandlerContext) -> None:
    """Write the conversation's next rolling summary (conversation_summary scenario), if it is still due."""
    conversation_id = _uuid(event, "conversation_id")
    orchestrator = context.service("ai") if "ai" in context.services else make_orchestrator(context)
    try:
        written = await summaries.refresh_summary(context.data, orchestrator, conversation_id, event_id=event.id)
    except BudgetExceeded as exc:
        # The tenant refuses AI calls at its limit: the conversation stays unsummarised, which is not an error.
        context.logger.warning("no summary: AI budget used up", extra={"conversation_id": conversation_id,
                                                                        "error": str(exc)})
        return
    except StoreUnavailable as exc:
        raise RetryLater(f"database unreachable while summarising: {exc}") from exc
    if written is None:
        return
    context.logger.info("conversation summarised", extra={
        "conversation_id": conversation_id, "summary_id": written.summary_id,
        "message_count": written.message_count, "prompt_version": written.prompt_version,
    })
    if written.still_due:
        # A long tail (an imported chat) is summarised a chunk per event.
        await _publish_due(context, conversation_id, None, written.last_message_id, 0)
