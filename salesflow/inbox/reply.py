"""Replying from the inbox: a member's DM to the lead of a conversation, queued for the send job.

The message goes through `queue_message` with `sent_by="inbox"`; the send job sends it and publishes
`message.sent`. (A browser may instead insert the message over /rest/v1 — the messages policy lets members
queue outbound messages in their tenant — and the same send job takes it.)
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from salesflow.conversations.sending import SendRefused, queue_message
from salesflow.events.ports import TenantData


async def reply(
    data: TenantData,
    conversation_id: UUID | str,
    text: str,
    *,
    user_id: UUID | str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Queue `text` to the conversation's lead on its channel; returns the message row (status queued).

    Raises SendRefused (field conversation_id when there is no such conversation in the tenant, else what
    `queue_message` refuses) and pydantic's ValidationError for malformed text."""
    try:
        conversation = str(UUID(str(conversation_id)))
    except ValueError:
        raise SendRefused("conversation_id", f"{conversation_id!r} is not a UUID") from None
    found = await data.select("conversations", {"id": conversation}, columns=["id", "lead_id", "channel"], limit=1)
    if not found:
        raise SendRefused("conversation_id", f"no conversation {conversation} in this tenant")
    return await queue_message(data, found[0]["lead_id"], found[0]["channel"], text=text, sent_by="inbox",
                               idempotency_key=idempotency_key, sent_by_user_id=user_id)
