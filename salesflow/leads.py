"""The lead vocabulary, mirrored from the `leads` migration (a test keeps the two equal).

The database enforces these (check constraints and the status-transition trigger); Python uses them to
validate input early and to explain refusals.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final

LEAD_STATUSES: Final = ("new", "contacted", "qualified", "proposal", "negotiation", "won", "lost")
SOURCE_CHANNELS: Final = (
    "whatsapp", "instagram", "facebook", "linkedin", "telegram", "sms", "email", "web", "referral", "unknown",
)
TEMPERATURES: Final = ("cold", "warm", "hot")
OPEN_STATUSES: Final = ("new", "contacted", "qualified", "proposal", "negotiation")

# Forward one stage at a time, won or lost from any open stage (a deal closes from whatever stage it is in,
# as in the CRMs sales teams use), lost back to new.
STATUS_TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    list(pairwise(OPEN_STATUSES))
    + [(s, "won") for s in OPEN_STATUSES]
    + [(s, "lost") for s in OPEN_STATUSES]
    + [("lost", "new")]
)


def status_change_allowed(old: str, new: str) -> bool:
    """Whether a lead may move from `old` to `new` (the database checks the same rule)."""
    return old == new or (old, new) in STATUS_TRANSITIONS
