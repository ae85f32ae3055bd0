"""WhatsApp chat exports (`salesflow leads import-chat FILE`): parse the text file, import it as a lead with its
conversation history.

The formats WhatsApp writes ("Export chat" → without media), by phone and language:

    Android, German    12.03.24, 14:05 - Paul Weber: Hallo!
    iOS, German        [12.03.24, 14:05:33] Paul Weber: Hallo!
    Android, English   3/12/24, 2:05 PM - Paul Weber: Hello!      (US: month first; 12-hour clock)
    iOS, English       [3/12/24, 2:05:33 PM] Paul Weber: Hello!
    (UK English writes 12/03/2024, 14:05: day first, 24-hour clock)

A line that does not start with a date continues the message before it (multi-line messages). Lines
without an author ("Messages and calls are end-to-end encrypted", "Paul changed the group name") and iOS
lines marked with U+200E are system lines and are skipped. "<Media omitted>" / "<Medien ausgeschlossen>" /
"image omitted" / "<attached: …>" become a message of that content type without a body. Slash dates are
read month first when the chat uses a 12-hour clock or a second field above 12 shows it, day first
otherwise (a first field above 12 proves it).

The chat's times are the exporting phone's local time (`timezone`, default Europe/Berlin). Each message
gets a key from the channel, address, time, author, text and how often that same line occurred before, so
importing a file twice (or a longer export of the same chat later) inserts only what is new.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import phonenumbers

from salesflow.events.ports import TenantData

BATCH_SIZE = 1000
ContentType = Literal["text", "image", "audio", "document"]

_DATE = r"(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4})"
_TIME = r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:[\s\u202f\u00a0]*(?P<ampm>[AaPp])\.?\s?[Mm]\.?)?)"
_MARKS = "[\u200e\u200f\ufeff]*"
_BRACKET = re.compile(rf"^{_MARKS}\[{_DATE},?\s+{_TIME}\]\s*(?P<rest>.*)$")
_DASH = re.compile(rf"^{_MARKS}{_DATE},?\s+{_TIME}\s+[-\u2013]\s+(?P<rest>.*)$")
_AUTHOR = re.compile(r"^(?P<author>[^:\n]{1,100}?):\s(?P<text>.*)$", re.DOTALL)
_ONLY_AUTHOR = re.compile(r"^(?P<author>[^:\n]{1,100}?):$")

_MEDIA: tuple[tuple[re.Pattern[str], ContentType], ...] = (
    (re.compile(r"^<(?:Media omitted|Medien ausgeschlossen)>$", re.I), "document"),
    (re.compile(r"^(?:image|photo|sticker|GIF) omitted$|^(?:Bild|Foto|Sticker|GIF) weggelassen$", re.I), "image"),
    (re.compile(r"^(?:video) omitted$|^Video weggelassen$", re.I), "document"),
    (re.compile(r"^(?:audio) omitted$|^Audio weggelassen$", re.I), "audio"),
    (re.compile(r"^(?:document) omitted$|^Dokument weggelassen$", re.I), "document"),
    (re.compile(r"^<(?:attached|Anhang):\s*[^>]*\.(?:jpe?g|png|webp|gif|heic)>$", re.I), "image"),
    (re.compile(r"^<(?:attached|Anhang):\s*[^>]*\.(?:opus|m4a|mp3|ogg|aac|wav)>$", re.I), "audio"),
    (re.compile(r"^<(?:attached|Anhang):\s*[^>]*>$", re.I), "document"),
)


class ChatParseError(ValueError):
    """The file is not a chat export this parser reads; `line` (1-based, 0 for the whole file) says where."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


class ChatImportError(ValueError):
    """The chat cannot be imported as asked; `field` names the option to change."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass
class ChatMessage:
    """One message of the chat, in the order of the file."""

    line: int
    at: datetime
    author: str
    text: str
    content_type: ContentType = "text"


@dataclass
class ParsedChat:
    """A parsed export: its messages, its authors in order of first appearance, skipped system lines."""

    messages: list[ChatMessage]
    authors: list[str]
    system_lines: int
    date_order: Literal["dmy", "mdy", "ymd"]


@dataclass
class _Raw:
    line: int
    date: str
    time: str
    ampm: str | None
    rest: list[str] = field(default_factory=list)


def _start(line: str) -> re.Match[str] | None:
    return _BRACKET.match(line) or _DASH.match(line)


def _date_order(raws: list[_Raw]) -> Literal["dmy", "mdy", "ymd"]:
    slash = [r for r in raws if "/" in r.date]
    if not slash:
        first = raws[0].date if raws else ""
        return "ymd" if re.match(r"^\d{4}", first) else "dmy"
    parts = [[int(p) for p in re.split(r"[./-]", r.date)] for r in slash]
    if any(len(str(p[0])) == 4 for p in parts) and all(p[0] > 31 for p in parts):
        return "ymd"
    if any(p[0] > 12 for p in parts):
        return "dmy"
    if any(r.ampm for r in slash) or any(p[1] > 12 for p in parts):
        return "mdy"
    return "dmy"


def _timestamp(raw: _Raw, order: str, zone: ZoneInfo) -> datetime:
    fields = [int(p) for p in re.split(r"[./-]", raw.date)]
    if order == "ymd":
        year, month, day = fields
    elif order == "mdy" and "/" in raw.date:
        month, day, year = fields
    else:
        day, month, year = fields
    if year < 100:
        year += 2000
    clock = re.match(r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?", raw.time)
    assert clock is not None
    hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
    if raw.ampm:
        if not 1 <= hour <= 12:
            raise ChatParseError(raw.line, f"{raw.time!r} is not a 12-hour clock time")
        hour = hour % 12 + (12 if raw.ampm.lower() == "p" else 0)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise ChatParseError(raw.line, f"{raw.date}, {raw.time} is not a date and time ({exc})") from None


def parse_chat(lines: Iterable[str], timezone: str = "Europe/Berlin",
               progress: Callable[[int], None] | None = None) -> ParsedChat:
    """Parse a WhatsApp export (see the module docstring); ChatParseError names the first line it cannot read.

    `progress(n)` is called with the number of lines read, every 1,000 lines.
    """
    zone = ZoneInfo(timezone)
    raws: list[_Raw] = []
    number = 0
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if number == 1:
            line = line.lstrip("\ufeff")
        match = _start(line)
        if match:
            raws.append(_Raw(number, match["date"], match["time"], match["ampm"], [match["rest"]]))
        elif raws:
            raws[-1].rest.append(line)
        elif line.strip():
            raise ChatParseError(number, "not a WhatsApp chat line: expected a date first, as in "
                                 "`12.03.24, 14:05 - Name: text`, `[12.03.24, 14:05:33] Name: text`, "
                                 "`3/12/24, 2:05 PM - Name: text` or `[3/12/24, 2:05:33 PM] Name: text`")
        if progress is not None and number % 1000 == 0:
            progress(number)
    if progress is not None:
        progress(number)
    if not raws:
        raise ChatParseError(0, "the file holds no chat messages")
    order = _date_order(raws)
    messages: list[ChatMessage] = []
    authors: dict[str, None] = {}
    system = 0
    for raw in raws:
        at = _timestamp(raw, order, zone)
        text = "\n".join(raw.rest).strip()
        matched = _AUTHOR.match(text) or _ONLY_AUTHOR.match(text.split("\n", 1)[0])
        if not matched:
            system += 1
            continue
        author = matched["author"].strip().strip("\u200e\u202a\u202c")
        body = (matched.groupdict().get("text") or "").strip()
        if not body:
            body = text.split("\n", 1)[1].strip() if "\n" in text else ""
        clean = body.lstrip("\u200e\u200f")
        kind: ContentType = "text"
        for pattern, media_kind in _MEDIA:
            if pattern.match(clean):
                kind = media_kind
                break
        # iOS marks its notices with U+200E (as it marks media, matched above).
        if kind == "text" and (body.startswith("\u200e") or not clean):
            system += 1
            continue
        authors.setdefault(author, None)
        messages.append(ChatMessage(raw.line, at, author, "" if kind != "text" else clean, kind))
    if not messages:
        raise ChatParseError(0, "the file holds only system lines, no messages")
    return ParsedChat(messages, list(authors), system, order)


def normalise_phone(value: str, region: str = "DE") -> str | None:
    """`value` as E.164 (`+4915112345678`), or None when it is not a valid phone number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class ChatParties:
    """Who is who in the chat: the tenant's person (`me`, outbound), the lead (inbound), its address."""

    me: str | None
    lead: str | None
    lead_name: str
    address: str


def resolve_parties(chat: ParsedChat, *, me: str | None = None, name: str | None = None,
                    phone: str | None = None, region: str = "DE") -> ChatParties:
    """Decide which author is the tenant's person and which the lead.

    `me` names the tenant's person; without it, an author named `name` is the lead; without either, an
    author WhatsApp shows as a phone number (an unsaved contact) is the lead. Anything else is ambiguous
    and raises ChatImportError naming the option that settles it. A chat of more than two authors (a group)
    is refused.
    """
    authors = chat.authors
    listing = ", ".join(authors)

    def find(value: str) -> str | None:
        wanted = " ".join(value.split()).casefold()
        return next((a for a in authors if " ".join(a.split()).casefold() == wanted), None)

    if len(authors) > 2:
        raise ChatImportError("FILE", f"the chat has {len(authors)} authors ({listing}): group chats are not "
                                      "imported, export a chat with one lead")
    mine: str | None
    lead: str | None
    if me is not None:
        mine = find(me)
        if mine is None:
            raise ChatImportError("--me", f"{me!r} is not an author of the chat (authors: {listing})")
        others = [a for a in authors if a != mine]
        lead = others[0] if others else None
    elif name is not None and find(name) is not None:
        lead = find(name)
        others = [a for a in authors if a != lead]
        mine = others[0] if others else None
    else:
        phones = [a for a in authors if normalise_phone(a, region)]
        if len(phones) == 1 and (len(authors) == 2 or name is None):
            lead = phones[0]
            mine = next((a for a in authors if a != lead), None)
        elif len(authors) == 2:
            raise ChatImportError("--me", f"the chat is between {authors[0]!r} and {authors[1]!r}: say which one "
                                          "is you (--me NAME); the other is the lead")
        else:
            raise ChatImportError("--me", f"the chat has one author ({authors[0]!r}): say whether it is you "
                                          "(--me NAME) or the lead (--name NAME)")
    raw_phone = phone or lead
    address = normalise_phone(raw_phone, region) if raw_phone else None
    if address is None:
        if phone is not None:
            raise ChatImportError("--phone", f"{phone!r} is not a valid phone number (e.g. +49 151 2345678)")
        raise ChatImportError("--phone", f"the lead {lead or name!r} is not shown with a number: give the lead's "
                                         "phone number (--phone +49...)")
    lead_name = name or (lead if lead and not normalise_phone(lead, region) else None) or lead or address
    return ChatParties(mine, lead, lead_name, address)


def message_rows(chat: ParsedChat, parties: ChatParties, channel: str) -> list[dict[str, Any]]:
    """The messages as `public.import_chat_history` takes them, each with its idempotency key."""
    seen: Counter[tuple[str, str, str]] = Counter()
    rows = []
    for m in chat.messages:
        stamp = m.at.isoformat()
        occurrence = seen[(stamp, m.author, m.text)]
        seen[(stamp, m.author, m.text)] += 1
        digest = hashlib.sha256(
            "\x1f".join((channel, parties.address, stamp, m.author, m.content_type, m.text, str(occurrence)))
            .encode()).hexdigest()[:40]
        inbound = m.author != parties.me
        rows.append({
            "key": digest,
            "direction": "in" if inbound else "out",
            "content_type": m.content_type,
            "body": m.text or None,
            "media": {"omitted_in_export": True} if m.content_type != "text" else None,
            "at": stamp,
        })
    return rows


@dataclass
class ChatImported:
    """What an import did."""

    lead_id: str
    lead_created: bool
    conversation_id: str
    address: str
    lead_name: str
    me: str | None
    messages: int
    inserted: int
    inbound: int
    outbound: int
    already_imported: int
    system_lines: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def import_chat(
    data: TenantData,
    chat: ParsedChat,
    parties: ChatParties,
    channel: str = "whatsapp",
    progress: Callable[[int], None] | None = None,
) -> ChatImported:
    """Import `chat` for `data`'s tenant in batches (each one transaction, each idempotent); then, when
    anything was new, publish conversation.summary_due so the history gets its rolling summary.
    `progress(n)` is called with the number of messages sent so far."""
    rows = message_rows(chat, parties, channel)
    totals: Counter[str] = Counter()
    result: Mapping[str, Any] = {}
    for start in range(0, len(rows), BATCH_SIZE):
        batch = rows[start:start + BATCH_SIZE]
        result = await data.rpc("import_chat_history", {
            "p_tenant_id": str(data.tenant_id), "p_channel": channel, "p_address": parties.address,
            "p_name": parties.lead_name, "p_messages": batch,
        })
        for key in ("inserted", "inbound", "outbound", "already_imported"):
            totals[key] += int(result[key])
        if start == 0:
            totals["lead_created"] = int(bool(result["lead_created"]))
        if progress is not None:
            progress(start + len(batch))
    if totals["inserted"]:
        conversation = str(result["conversation_id"])
        await data.rpc("publish_event", {
            "p_tenant_id": str(data.tenant_id), "p_type": "conversation.summary_due",
            "p_payload": {"conversation_id": conversation, "lead_id": str(result["lead_id"]), "message_id": None,
                          "tail_tokens": 0},
            "p_ordering_key": f"summary:{conversation}", "p_source": "chat_import",
        })
    return ChatImported(
        lead_id=str(result["lead_id"]), lead_created=bool(totals["lead_created"]),
        conversation_id=str(result["conversation_id"]), address=parties.address, lead_name=parties.lead_name,
        me=parties.me, messages=len(rows), inserted=totals["inserted"], inbound=totals["inbound"],
        outbound=totals["outbound"], already_imported=totals["already_imported"], system_lines=chat.system_lines,
    )
