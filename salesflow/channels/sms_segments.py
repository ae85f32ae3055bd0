"""How many SMS segments a text costs (what a carrier bills), GSM-7 or UCS-2.

A text that fits the GSM 03.38 alphabet travels as 7-bit septets: 160 in one segment, 153 per segment once it
is split (the user data header takes 7). The extension table (`^{}\\[~]|€` and form feed) costs two septets
and never straddles two segments. One character outside the alphabet (an emoji, `ł`, a curly quote) turns the
whole text into UCS-2: 70 UTF-16 code units in one segment, 67 per segment when split, and a surrogate pair
(most emoji) stays in one segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """`units` are septets (GSM-7) or UTF-16 code units (UCS-2)."""

    encoding: Encoding
    segments: int
    units: int


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _split(costs: list[int], single: int, per_segment: int) -> int:
    total = sum(costs)
    if total <= single:
        return 1 if costs else 0
    segments, used = 1, 0
    for cost in costs:  # greedy, as handsets and carriers split: a character never straddles two segments
        if used + cost > per_segment:
            segments += 1
            used = 0
        used += cost
    return segments


def count_segments(text: str) -> SegmentCount:
    """The encoding, segment count and units of `text` as an SMS."""
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SegmentCount("GSM-7", _split(costs, 160, 153), sum(costs))
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount("UCS-2", _split(costs, 70, 67), sum(costs))
