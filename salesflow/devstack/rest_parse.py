"""PostgREST's query-string grammar: select lists, filters, logic trees, order, columns, Prefer.

Parsing only: the result is a tree of plain values. Names and values stay data all the way down; the SQL
builder quotes every name as an identifier and binds every value as a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from salesflow.devstack.errors import parse_error

OPERATORS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is", "in", "cs", "cd", "ov", "fts", "plfts",
     "phfts", "wfts", "match", "imatch", "isdistinct"}
)
IS_VALUES = {"null": "null", "not_null": "not null", "true": "true", "false": "false", "unknown": "unknown"}
RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict", "and", "or", "not.and", "not.or"})
_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\])?$")
_HINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """A column, optionally followed by JSON path steps like payload->>lead_id."""

    column: str
    path: tuple[tuple[str, str], ...] = ()

    @property
    def output_name(self) -> str:
        return self.path[-1][1] if self.path else self.column


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class FieldItem:
    field: Field
    alias: str | None = None
    cast: str | None = None


@dataclass
class Embed:
    name: str
    alias: str | None
    hint: str | None
    inner: bool
    items: list[SelectItem]


SelectItem = Star | FieldItem | Embed


@dataclass(frozen=True)
class Condition:
    field: Field
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    modifier: str | None = None


@dataclass
class Logic:
    operator: str  # 'and' | 'or'
    children: list[Condition | Logic]
    negated: bool = False


@dataclass(frozen=True)
class OrderTerm:
    field: Field
    descending: bool = False
    nulls: str | None = None  # 'first' | 'last'


@dataclass
class EmbedOptions:
    """What the query string says about one level of the select tree (the root or an embedded resource)."""

    filters: list[Condition | Logic] = field(default_factory=list)
    order: list[OrderTerm] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside parentheses and double quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            current.append(ch)
        elif ch == "(":
            depth += 1
            current.append(ch)
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise parse_error(f'"failed to parse: unexpected ")" in {text!r}"')
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if depth != 0 or quoted:
        raise parse_error(f"failed to parse {text!r}", "unbalanced parentheses or quotes")
    parts.append("".join(current))
    return parts


def unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_field(text: str) -> Field:
    text = text.strip()
    pieces = re.split(r"(->>|->)", text)
    column = unquote(pieces[0])
    if not column:
        raise parse_error(f"failed to parse field {text!r}", "a column name is required")
    path = []
    for i in range(1, len(pieces), 2):
        key = unquote(pieces[i + 1]) if i + 1 < len(pieces) else ""
        if key == "":
            raise parse_error(f"failed to parse field {text!r}", "a JSON path step needs a key")
        path.append((pieces[i], key))
    return Field(column, tuple(path))


def parse_select(text: str) -> list[SelectItem]:
    """`*,id,alias:col::text,payload->>x,lead:leads!fk!inner(name,owner:users(email))`."""
    items: list[SelectItem] = []
    for raw in split_top(text):
        part = raw.strip()
        if not part:
            continue
        if part == "*":
            items.append(Star())
            continue
        paren = _first_unquoted(part, "(")
        if paren >= 0:
            if not part.endswith(")"):
                raise parse_error(f"failed to parse select item {part!r}", "an embedded resource ends with ')'")
            head, inner = part[:paren], part[paren + 1 : -1]
            alias, _, name = head.rpartition(":") if ":" in head else ("", "", head)
            bits = name.split("!")
            hint = None
            is_inner = False
            for b in bits[1:]:
                if b == "inner":
                    is_inner = True
                elif b == "left":
                    is_inner = False
                elif _HINT.match(b):
                    hint = b
                else:
                    raise parse_error(f"failed to parse embed hint {b!r}")
            items.append(Embed(unquote(bits[0]), unquote(alias) or None, hint, is_inner, parse_select(inner)))
            continue
        cast = None
        if "::" in part:
            part, cast = part.rsplit("::", 1)
            if not _CAST.match(cast):
                raise parse_error(f"failed to parse cast {cast!r}", "a cast is a type name")
        field_alias: str | None = None
        colon = _first_unquoted(part, ":")
        if colon >= 0:
            field_alias, part = unquote(part[:colon]), part[colon + 1 :]
        items.append(FieldItem(parse_field(part), field_alias or None, cast))
    return items or [Star()]


def _first_unquoted(text: str, ch: str) -> int:
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            return i
    return -1


_OP = re.compile(r"^(?P<not>not\.)?(?P<op>[a-z]+)(\((?P<mod>[^)]*)\))?\.(?P<value>.*)$", re.S)


def parse_condition(column: str, expression: str) -> Condition:
    """`eq.5`, `not.in.(a,b)`, `is.null`, `fts(english).word` for the field `column`."""
    match = _OP.match(expression)
    if not match or match["op"] not in OPERATORS:
        raise parse_error(
            f'"failed to parse filter ({expression})" (line 1, column 1)',
            f"unknown operator in {column}={expression}; allowed: {', '.join(sorted(OPERATORS))}",
        )
    op, raw = match["op"], match["value"]
    value: str | tuple[str, ...] = raw
    if op == "in":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise parse_error(f'"failed to parse filter (in.{raw})"', "in takes a list: in.(a,b)")
        inner = raw[1:-1]
        value = tuple(unquote(v) for v in split_top(inner)) if inner.strip() else ()
    elif op == "is":
        if raw.lower() not in IS_VALUES:
            raise parse_error(f'"failed to parse filter (is.{raw})"', "is takes null, not_null, true, false or unknown")
        value = raw.lower()
    elif op in ("cs", "cd", "ov") and raw.startswith("(") and raw.endswith(")"):
        value = raw  # a range literal like (1,5) is passed through as it is
    else:
        value = unquote(raw) if raw.startswith('"') else raw
    return Condition(parse_field(column), op, value, bool(match["not"]), match["mod"])


def parse_logic(key: str, value: str) -> Logic:
    """`or=(a.eq.1,and(b.gt.2,c.lt.3))` with key `or`, `and`, `not.or` or `not.and`."""
    negated = key.startswith("not.")
    operator = key.removeprefix("not.")
    text = value.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error(f'"failed to parse logic tree ({value})"', f"{key} takes a list in parentheses")
    return Logic(operator, [_logic_item(p.strip()) for p in split_top(text[1:-1])], negated)


def _logic_item(text: str) -> Condition | Logic:
    match = re.match(r"^(not\.)?(and|or)(\(.*\))$", text, re.S)
    if match:
        return parse_logic(("not." if match[1] else "") + match[2], match[3])
    column, dot, expression = text.partition(".")
    if not dot:
        raise parse_error(f'"failed to parse logic tree ({text})"', "each item is column.operator.value")
    return parse_condition(column, expression)


def parse_order(text: str) -> list[OrderTerm]:
    terms = []
    for part in split_top(text):
        bits = part.strip().split(".")
        if not bits[0]:
            raise parse_error(f'"failed to parse order ({text})"')
        descending = False
        nulls = None
        for b in bits[1:]:
            if b in ("asc", "desc"):
                descending = b == "desc"
            elif b in ("nullsfirst", "nullslast"):
                nulls = b[5:]
            else:
                raise parse_error(f'"failed to parse order ({text})"', f"unknown order modifier {b!r}")
        terms.append(OrderTerm(parse_field(bits[0]), descending, nulls))
    return terms


def parse_columns(text: str) -> list[str]:
    return [unquote(c) for c in split_top(text) if c.strip()]


def parse_int(name: str, text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise parse_error(f'"failed to parse {name} ({text})"', f"{name} must be a non-negative integer")
    return int(text)


def parse_prefer(headers: list[str]) -> dict[str, str]:
    """`Prefer: return=representation,count=exact` (several headers allowed) as a dict."""
    prefs: dict[str, str] = {}
    for header in headers:
        for token in header.split(","):
            key, _, value = token.strip().partition("=")
            if key:
                prefs[key.strip().lower()] = value.strip()
    return prefs


@dataclass
class ReadRequest:
    """Everything the query string says: the select tree and, per embed path, its options."""

    select: list[SelectItem]
    options: dict[tuple[str, ...], EmbedOptions]
    columns: list[str] | None = None
    on_conflict: list[str] | None = None
    rpc_args: dict[str, str] = field(default_factory=dict)


def parse_query(params: list[tuple[str, str]], rpc_arg_names: frozenset[str] = frozenset()) -> ReadRequest:
    """Sort the query string into select, per-embed filters/order/limit, columns and on_conflict."""
    request = ReadRequest(select=[Star()], options={(): EmbedOptions()})
    for key, value in params:
        if key == "select":
            request.select = parse_select(value)
            continue
        if key == "columns":
            request.columns = parse_columns(value)
            continue
        if key == "on_conflict":
            request.on_conflict = parse_columns(value)
            continue
        if key in rpc_arg_names:
            request.rpc_args[key] = value
            continue
        path, last = _split_key(key)
        opts = request.options.setdefault(path, EmbedOptions())
        if last == "order":
            opts.order = parse_order(value)
        elif last == "limit":
            opts.limit = parse_int("limit", value)
        elif last == "offset":
            opts.offset = parse_int("offset", value)
        elif last in ("and", "or", "not.and", "not.or"):
            opts.filters.append(parse_logic(last, value))
        else:
            opts.filters.append(parse_condition(last, value))
    return request


def _split_key(key: str) -> tuple[tuple[str, ...], str]:
    # `leads.status` filters the embedded `leads`; `not.or` is a logic key, not an embed called `not`.
    for logic in ("not.and", "not.or"):
        if key == logic or key.endswith("." + logic):
            prefix = key[: -len(logic)].rstrip(".")
            return (tuple(prefix.split(".")) if prefix else ()), logic
    if "->" in key:
        head, arrow, rest = key.partition("->")
        bits = head.split(".")
        return tuple(bits[:-1]), bits[-1] + arrow + rest
    bits = key.split(".")
    return tuple(bits[:-1]), bits[-1]
