"""The analytics vocabulary, mirrored from SQL (tests/analytics/test_vocabulary.py keeps the two equal).

FUNNEL_STAGES is `private.analytics_stages()`, STAGE_OF_STATUS is `private.analytics_stage_of_status()`.
"""

from __future__ import annotations

from typing import Final, Literal

FUNNEL_STAGES: Final = (
    "lead_created",
    "lead_qualified",
    "first_contact",
    "first_response",
    "engaged",
    "meeting_scheduled",
    "meeting_completed",
    "proposal_sent",
    "negotiation",
    "deal_closed_won",
)
EXITS: Final = ("lost", "churned")

# The stage a lead status enters (a move back to `new` enters none).
STAGE_OF_STATUS: Final[dict[str, str]] = {
    "contacted": "first_contact",
    "qualified": "lead_qualified",
    "proposal": "proposal_sent",
    "negotiation": "negotiation",
    "won": "deal_closed_won",
    "lost": "lost",
}

# Who acted in a touch: the lead (inbound) or, outbound, a person, a sequence or the autopilot.
ACTOR_OF_SENDER: Final[dict[str, str]] = {"autopilot": "autopilot", "sequence": "sequence", "user": "human",
                                          "inbox": "human"}

Model = Literal["first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path", "markov"]
MODELS: Final[tuple[Model, ...]] = (
    "first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path", "markov",
)
SQL_MODELS: Final = MODELS[:-1]  # markov is computed in Python (salesflow.analytics.attribution)
Dimension = Literal["channel", "actor", "campaign", "sequence"]
DIMENSIONS: Final[tuple[Dimension, ...]] = ("channel", "actor", "campaign", "sequence")
