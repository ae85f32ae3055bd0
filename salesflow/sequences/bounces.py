"""Which permanent delivery failures are bounces: the address cannot receive at all, so a sequence must stop.

A bounce is a failure that says the *recipient* does not exist or cannot be reached on the channel, as opposed to
a refusal of this one message (a closed 24 h window, a blocked template, spam policy, a full mailbox, a rate
limit). Codes arrive in two spellings (salesflow/channels/errors.py): `<provider>_<code>` from the send job
(`smtp_550`, `twilio_21211`, `meta_131026`, `meta_100_2018001`) and the provider's bare code from a status
callback (`30005` from Twilio, `131026` from WhatsApp); an email DSN names its enhanced status code (RFC 3463)
in the message (`5.1.1`).

- Email: an enhanced status 5.1.x (bad destination mailbox / system / address) or 5.2.1 (mailbox disabled),
  or SMTP 550 / 551 / 553 without a policy or content reason (5.7.x, "spam", "blocked", "policy").
- SMS (Twilio): 21211 invalid To number, 21217 number does not appear valid, 21614 not a mobile number,
  30005 unknown destination handset, 30006 landline or unreachable carrier. Not 30003 (handset off: temporary).
- WhatsApp (Meta): 131026 message undeliverable (no WhatsApp account, or cannot receive), 1013 user is not
  valid. Instagram (Meta): 551 the person is not available, 100 / 2018001 no matching user.
"""

from __future__ import annotations

import re
from typing import Final

TWILIO_BOUNCES: Final = frozenset({"21211", "21217", "21614", "30005", "30006"})
META_BOUNCES: Final = frozenset({"131026", "1013", "551", "100_2018001"})
SMTP_BOUNCE_CODES: Final = frozenset({"550", "551", "553"})
ENHANCED_BOUNCE: Final = re.compile(r"\b5\.(?:1\.\d{1,3}|2\.1)\b")
POLICY: Final = re.compile(r"\b5\.7\.\d{1,3}\b|spam|blocked|block list|blacklist|policy|reputation|rejected for",
                           re.IGNORECASE)
_PREFIXES: Final = ("smtp_", "twilio_", "meta_")


def bare_code(error_code: str | None) -> str:
    """The provider's own code without our `<provider>_` prefix ("" when there is none)."""
    code = (error_code or "").strip().lower()
    for prefix in _PREFIXES:
        if code.startswith(prefix):
            return code[len(prefix):]
    return code


def is_bounce(channel: str | None, error_code: str | None, error_message: str | None = None) -> bool:
    """Whether a failed message's code and reason say the lead cannot be reached at this address at all."""
    code = bare_code(error_code)
    message = error_message or ""
    if channel == "email":
        if POLICY.search(message):
            return False
        return bool(ENHANCED_BOUNCE.search(message) or ENHANCED_BOUNCE.search(code)) or code in SMTP_BOUNCE_CODES
    if channel == "sms":
        return code in TWILIO_BOUNCES
    if channel in ("whatsapp", "instagram"):
        return code in META_BOUNCES
    return False
