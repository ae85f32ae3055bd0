"""The lead vocabulary, mirrored from the `leads` migration (a test keeps the two equal).

The database enforces these (check constraints and the status-transition trigger); Python uses them to
validate input early and to explain refusals.
"""

from __future__ import annotations

from typing import Final

LEAD_STATUSES: Final = ("new", "contacted", "qualified", "proposal", "negotiation", "won", "lost")
SOURCE_CHANNELS: Final = (
    "whatsapp", "instagram", "facebook", "linkedin", "telegram", "sms", "email", "web", "referral", "unknown",
)
TEMPERATURES: Final = ("cold", "warm", "hot")
OPEN_STATUSES: Final = ("new", "contacted", "qualified", "proposal", "negotiation")

# Forward one stage at a time, any open stage to lost, lost back to new.
STATUS_TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    list(zip(OPEN_STATUSES, (*OPEN_STATUSES[1:], "won"), strict=True))
    + [(s, "lost") for s in OPEN_STATUSES]
    + [("lost", "new")]
)


def status_change_allowed(old: str, new: str) -> bool:
    """Whether a lead may move from `old` to `new` (the database checks the same rule)."""
    return old == new or (old, new) in STATUS_TRANSITIONS
