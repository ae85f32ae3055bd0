"""Telling an automatic answer (out of office, "Abwesenheitsnotiz") from a reply by the lead.

An auto-reply must not stop a sequence: the lead did not answer. RFC 3834's `Auto-Submitted` header (anything
but `no`) is decisive; otherwise the usual provider headers and German and English subject and body phrases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

AUTO_HEADERS: Final = ("x-autoreply", "x-autorespond", "x-auto-response-suppress")
PRECEDENCE_AUTO: Final = ("auto_reply", "bulk", "junk")

PATTERNS: Final = re.compile(
    r"out[ -]of[ -](the[ -])?office|automatic reply|auto[- ]?reply|autoresponder|i am (currently )?away|"
    r"i'm (currently )?(away|out of)|on (annual )?(leave|vacation|holiday) until|"
    r"abwesenheitsnotiz|automatische antwort|automatische antwort|nicht im büro|au(ß|ss)er haus|"
    r"bin (ab dem|bis zum|bis) .{0,40}(wieder|nicht) (erreichbar|im büro|da)|derzeit nicht erreichbar|"
    r"im urlaub|in urlaub",
    re.IGNORECASE,
)


def _headers(detail: Mapping[str, Any]) -> dict[str, str]:
    raw = detail.get("headers")
    found = {str(k).lower(): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    for key in ("auto_submitted", "auto-submitted"):
        if detail.get(key) is not None:
            found["auto-submitted"] = str(detail[key])
    return found


def is_auto_reply(body: str | None, detail: Mapping[str, Any] | None = None) -> bool:
    """Whether an inbound message is an automatic answer rather than the lead's reply."""
    detail = detail or {}
    headers = _headers(detail)
    submitted = headers.get("auto-submitted", "").strip().lower()
    if submitted and submitted != "no":
        return True
    if any(name in headers for name in AUTO_HEADERS):
        return True
    if headers.get("precedence", "").strip().lower() in PRECEDENCE_AUTO:
        return True
    subject = str(detail.get("subject") or "")
    return bool(PATTERNS.search(subject) or PATTERNS.search((body or "")[:2000]))
