"""The inbox vocabulary, mirrored from 20261202200000_inbox_status.sql (tests/inbox keeps them equal)."""

from __future__ import annotations

from typing import Final

INBOX_STATUSES: Final = (
    "new", "dm_initiated_no_response", "read_no_reply", "replied", "needs_human_attention", "in_sequence",
    "delay_requested", "converted", "archived", "unsubscribed",
)
# Statuses a later message does not change (a member moves a conversation out of them).
STICKY_STATUSES: Final = ("converted", "archived", "unsubscribed")
SENTIMENTS: Final = ("positive", "neutral", "negative")
SIGNALS: Final = ("interest", "delay", "none")
#: How long a "later, please" pauses the lead (the old system's "delay requested" preset).
DELAY_DAYS: Final = 14
