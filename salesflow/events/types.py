"""The event type catalogue: the Python mirror of `public.event_types` (a test keeps the two equal).

Add a type with a migration that inserts it into `public.event_types` and a line here; docs/events.md
describes each type's payload.
"""

from __future__ import annotations

import re
from typing import Final

LEAD_CREATED: Final = "lead.created"
LEAD_UPDATED: Final = "lead.updated"
LEAD_STATUS_CHANGED: Final = "lead.status_changed"
MESSAGE_RECEIVED: Final = "message.received"
MESSAGE_QUEUED: Final = "message.queued"
MESSAGE_SENT: Final = "message.sent"
MESSAGE_STATUS_CHANGED: Final = "message.status_changed"
CONVERSATION_CREATED: Final = "conversation.created"
CONVERSATION_SUMMARY_DUE: Final = "conversation.summary_due"
LEAD_OPTED_OUT: Final = "lead.opted_out"
SEQUENCE_STEP_DUE: Final = "sequence.step_due"
SEQUENCE_STEP_EXECUTED: Final = "sequence.step_executed"
AUTOPILOT_ACTION_EXECUTED: Final = "autopilot.action_executed"
AUTOPILOT_DRAFT_EXPIRY: Final = "autopilot.draft_expiry"
AI_BUDGET_EXCEEDED: Final = "ai.budget_exceeded"
MEETING_BOOKED: Final = "meeting.booked"
INBOX_DELAY_OVER: Final = "inbox.delay_over"
INVITATION_CREATED: Final = "invitation.created"

EVENT_TYPES: Final[dict[str, str]] = {
    LEAD_CREATED: "A lead was inserted. Payload: lead_id, name, source, source_channel.",
    LEAD_UPDATED: "Lead fields other than status changed. Payload: lead_id, changes {field: {from, to}}.",
    LEAD_STATUS_CHANGED: "A lead moved along the pipeline. Payload: lead_id, from, to, changes.",
    MESSAGE_RECEIVED: "An inbound message was recorded. Payload: conversation_id, lead_id, channel, message_id, "
    "content_type, provider_message_id, received_at.",
    MESSAGE_QUEUED: "An outbound message was queued for sending (the send job's work). Payload: conversation_id, "
    "lead_id, channel, message_id, sent_by, queued_at, redelivery.",
    MESSAGE_SENT: "An outbound message reached sent (once per message). Payload: conversation_id, lead_id, channel, "
    "message_id, provider_message_id, sent_by, sent_at, latency_ms.",
    MESSAGE_STATUS_CHANGED: "An outbound message's status moved forward. Payload: conversation_id, lead_id, "
    "channel, message_id, from, to, at, error_code, error_message.",
    CONVERSATION_CREATED: "A conversation was started. Payload: conversation_id, lead_id, channel, status.",
    CONVERSATION_SUMMARY_DUE: "A conversation's unsummarised messages passed the summary threshold. Payload: "
    "conversation_id, lead_id, message_id, tail_tokens.",
    LEAD_OPTED_OUT: "A lead opted out of a channel. Payload: lead_id, channel, consent_id, method, opted_out_at.",
    SEQUENCE_STEP_DUE: "A follow-up sequence step is due (delayed with run_after). Payload: enrollment_id, "
    "lead_id, sequence_id, step, version.",
    SEQUENCE_STEP_EXECUTED: "A sequence step ran. Payload: enrollment_id, lead_id, sequence_id, step, channel, "
    "ai_personalized, message_id, run_id.",
    AUTOPILOT_ACTION_EXECUTED: "Autopilot acted for a lead (its message is queued). Payload: action_id, lead_id, "
    "action, channel, cost_usd, latency_ms, scenario, prompt_version, mode, verdict, message_id.",
    AUTOPILOT_DRAFT_EXPIRY: "An autopilot draft's time to be approved ran out (delayed with run_after = "
    "expires_at). Payload: action_id, expires_at.",
    AI_BUDGET_EXCEEDED: "A tenant reached its monthly AI budget. Payload: period, limit_usd, spent_usd.",
    MEETING_BOOKED: "A meeting with a lead was booked, or recorded as held. Payload: meeting_id, lead_id, "
    "starts_at, booked_at, held_at, booked_by.",
    INBOX_DELAY_OVER: "A lead's requested delay ended (delayed with run_after = snoozed_until). Payload: "
    "conversation_id, lead_id, message_id, snoozed_until.",
    INVITATION_CREATED: "An owner or admin invited someone by email; the email handler sends the link. Payload: "
    "invitation_id, role, expires_at, invited_by.",
}

# The same rule as the check constraint on events.type and event_types.name.
TYPE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def is_known(event_type: str) -> bool:
    """Whether `event_type` is in the catalogue."""
    return event_type in EVENT_TYPES
