"""The autopilot: AI drafts answers to inbound messages, and a person stays in the loop where it matters.

`settings` resolves the tenant / channel / lead settings, `guards` decides what needs a person (first contact,
pricing / contract / legal topics, objections, negative sentiment, AI failures, caps, quiet hours), and
`drafting` runs one inbound message through the AI and records (and, in auto mode, sends) the action.
Members decide drafts with `public.autopilot_decide` (`decide` here for the CLI).
"""

from salesflow.autopilot.drafting import AutopilotOutcome, decide, draft_for_message
from salesflow.autopilot.guards import GuardInput, Verdict, judge, sensitive_topics
from salesflow.autopilot.settings import DEFAULTS, MODES, AutopilotSettings, SettingsUpdate, resolve

__all__ = [
    "DEFAULTS", "MODES", "AutopilotOutcome", "AutopilotSettings", "GuardInput", "SettingsUpdate", "Verdict",
    "decide", "draft_for_message", "judge", "resolve", "sensitive_topics",
]
