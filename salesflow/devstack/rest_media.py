"""Content negotiation for `/rest/v1`: which body an `Accept` header gets, as PostgREST decides it.

PostgREST (docs: resource_representation) answers `application/json` (also for `*/*`), `text/csv`, the
vendor types `application/vnd.pgrst.object+json` and `application/vnd.pgrst.array+json` (with
`;nulls=stripped`), and the plan type `application/vnd.pgrst.plan` only where `db-plan-enabled` is on.
Like a PostgREST with plans disabled (the default, and Supabase's), anything else is refused with 406
PGRST107 "None of these media types are available: …", the types listed as PostgREST prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.devstack.errors import ApiError


@dataclass(frozen=True)
class MediaType:
    """One entry of an Accept header, decoded as PostgREST's `decodeMediaType` does."""

    kind: str  # json | any | csv | object | array | plan | other
    mime: str  # PostgREST's `toMime` of it, for the PGRST107 message
    strip_nulls: bool = False


@dataclass(frozen=True)
class Negotiated:
    """The chosen representation: `json` (an array), `object` (one row) or `csv`."""

    media: str
    strip_nulls: bool = False

    @property
    def singular(self) -> bool:
        return self.media == "object"

    @property
    def content_type(self) -> str:
        if self.media == "csv":
            return "text/csv; charset=utf-8"
        if self.media == "object":
            return "application/vnd.pgrst.object+json" + (";nulls=stripped" if self.strip_nulls else "") \
                + "; charset=utf-8"
        if self.strip_nulls:
            return "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
        return "application/json; charset=utf-8"


_SIMPLE = {"application/json": "json", "text/csv": "csv", "*/*": "any"}
_PLAN_OPTIONS = ("analyze", "verbose", "settings", "buffers", "wal")


def decode(entry: str) -> MediaType:
    """`application/vnd.pgrst.plan+json;for="text/csv";options=analyze` and friends (spaces removed)."""
    head, *rest = entry.split(";")
    if head in _SIMPLE:
        return MediaType(_SIMPLE[head], head)
    if head in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
        strip = rest == ["nulls=stripped"]
        return MediaType("object", "application/vnd.pgrst.object+json" + (";nulls=stripped" if strip else ""), strip)
    if head in ("application/vnd.pgrst.array+json", "application/vnd.pgrst.array"):
        strip = rest == ["nulls=stripped"]
        if strip:
            return MediaType("array", "application/vnd.pgrst.array+json;nulls=stripped", True)
        return MediaType("json", "application/json")
    if head in ("application/vnd.pgrst.plan", "application/vnd.pgrst.plan+text", "application/vnd.pgrst.plan+json"):
        fmt = "json" if head.endswith("+json") else "text"
        target = next((r[4:].strip('"') for r in rest if r.startswith("for=")), "application/json")
        options = next((r[8:].split("|") for r in rest if r.startswith("options=")), [])
        chosen = [o for o in _PLAN_OPTIONS if o in options]
        mime = f'application/vnd.pgrst.plan+{fmt}; for="{decode(target).mime}"' + (
            f"; options={'|'.join(chosen)}" if chosen else "")
        return MediaType("plan", mime)
    if not head:
        return MediaType("any", "*/*")
    return MediaType("other", head)


def parse_accept(header: str | None) -> list[MediaType]:
    """The entries of an Accept header, most preferred first (by `q`, then specificity, then order)."""
    if not header or not header.strip():
        return [MediaType("any", "*/*")]
    ranked: list[tuple[float, int, int, MediaType]] = []
    for i, raw in enumerate(header.split(",")):
        entry = raw.replace(" ", "").replace("\t", "")
        q = 1.0
        if ";q=" in entry:
            entry, _, q_text = entry.partition(";q=")
            try:
                q = float(q_text.split(";")[0])
            except ValueError:
                q = 0.0
        head = entry.split(";")[0]
        specificity = 0 if head == "*/*" else 1 if head.endswith("/*") else 2
        ranked.append((-q, -specificity, i, decode(entry)))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked]


def negotiate(header: str | None, csv: bool = True) -> Negotiated:
    """The representation for `header`, or 406 PGRST107 like a PostgREST with `db-plan-enabled = false`."""
    accepted = parse_accept(header)
    for media in accepted:
        if media.kind in ("json", "any"):
            return Negotiated("json")
        if media.kind == "array":
            return Negotiated("json", strip_nulls=True)
        if media.kind == "object":
            return Negotiated("object", media.strip_nulls)
        if media.kind == "csv" and csv:
            return Negotiated("csv")
    raise ApiError(406, "PGRST107",
                   "None of these media types are available: " + ", ".join(m.mime for m in accepted))
