"""PostgREST's query-string grammar: select lists, filters, logic trees, order, columns, Prefer.

Parsing only: the result is a tree of plain values. Names and values stay data all the way down; the SQL
builder quotes every name as an identifier and binds every value as a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from salesflow.devstack.errors import ApiError, parse_error

# The operator table of PostgREST's API reference (tables_views: Operators, Operator Modifiers).
SIMPLE_OPERATORS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "cs", "cd", "ov", "sl", "sr",
     "nxr", "nxl", "adj", "isdistinct"}
)
# `any`/`all` apply to these only (docs: "the any/all modifiers of eq,like,ilike,gt,gte,lt,lte,match,imatch")
QUANTIFIABLE = frozenset({"eq", "like", "ilike", "gt", "gte", "lt", "lte", "match", "imatch"})
FTS_OPERATORS = frozenset({"fts", "plfts", "phfts", "wfts"})
OPERATORS = SIMPLE_OPERATORS | FTS_OPERATORS | {"in", "is"}
IS_VALUES = {"null": "null", "not_null": "not null", "true": "true", "false": "false", "unknown": "unknown"}
RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict", "and", "or", "not.and", "not.or"})
_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\])?$")
_HINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AGGREGATE = re.compile(r"^([^:()]+:)?(count\(\)|[^()]+\.(count|sum|avg|max|min)\(\))(::[A-Za-z0-9_]+)?$")


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
    spread: bool = False  # `...directors(last_name)`: the embed's columns become the parent's


SelectItem = Star | FieldItem | Embed


@dataclass(frozen=True)
class Condition:
    """`field op value`: `value` is a tuple for `in`; `quantifier` is `any`/`all`; `config` is an fts language."""

    field: Field
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: str | None = None
    config: str | None = None


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
        if _AGGREGATE.match(part):
            # docs (aggregate_functions): off unless db-aggregates-enabled, as on Supabase
            raise ApiError(400, "PGRST123", "Use of aggregate functions is not allowed")
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
            name = unquote(bits[0])
            spread = name.startswith("...")
            if spread and alias:
                raise parse_error(f"failed to parse select item {part!r}", "a spread embed takes no alias")
            items.append(Embed(name.removeprefix("..."), unquote(alias) or None, hint, is_inner, parse_select(inner),
                               spread))
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


class _Cursor:
    """A position in one query-string value, for the recursive-descent parsers below."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def eat(self, s: str) -> bool:
        if self.text.startswith(s, self.pos):
            self.pos += len(s)
            return True
        return False

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expect(self, s: str) -> None:
        if not self.eat(s):
            raise self.fail(f"expecting {s!r}")

    def word(self, pattern: re.Pattern[str]) -> str:
        match = pattern.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group()

    def fail(self, details: str) -> Exception:
        # PostgREST's parse errors: PGRST100, message naming the value and the column where parsing stopped
        return parse_error(f'"failed to parse {self.what} ({self.text})" (line 1, column {self.pos + 1})', details)


_NAME = re.compile(r"[a-z]+")
_CONFIG = re.compile(r"[A-Za-z0-9_]+")
_TRILEAN = re.compile(r"[A-Za-z_]+")


def _quoted(cur: _Cursor) -> str | None:
    """A double-quoted value with backslash escapes (`"a,b"`, `"say \\"hi\\""`), or None (position kept)."""
    if not cur.peek('"'):
        return None
    out: list[str] = []
    i = cur.pos + 1
    text = cur.text
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            cur.pos = i + 1
            return "".join(out)
        else:
            out.append(ch)
            i += 1
    return None


def _until(cur: _Cursor, stops: str) -> str:
    start = cur.pos
    while cur.pos < len(cur.text) and cur.text[cur.pos] not in stops:
        cur.pos += 1
    return cur.text[start:cur.pos]


def _list_value(cur: _Cursor) -> tuple[str, ...]:
    """`(a,"b,c",d)`: PostgREST's list of `in`; quoted elements may hold commas and parentheses."""
    cur.skip_spaces()
    cur.expect("(")
    items: list[str] = []
    while True:
        saved = cur.pos
        quoted = _quoted(cur)
        if quoted is not None and (cur.at_end() or cur.text[cur.pos] in ",)"):
            items.append(quoted)
        else:
            cur.pos = saved
            items.append(_until(cur, ",)"))
        if not cur.eat(","):
            break
    cur.skip_spaces()
    cur.expect(")")
    cur.skip_spaces()
    return () if items == [""] else tuple(items)


def _logic_value(cur: _Cursor) -> str:
    """A value inside `or=(…)`/`and=(…)`: a quoted string, a `{…}` array literal, or text up to `,` / `)`."""
    saved = cur.pos
    quoted = _quoted(cur)
    if quoted is not None and (cur.at_end() or cur.text[cur.pos] in ",)"):
        return quoted
    cur.pos = saved
    if cur.peek("{"):
        end = cur.text.find("}", cur.pos)
        if end > 0 and "{" not in cur.text[cur.pos + 1:end]:
            value = cur.text[cur.pos:end + 1]
            cur.pos = end + 1
            return value
    return _until(cur, ",)")


def _operation(cur: _Cursor, field: Field, in_logic: bool) -> Condition:
    negated = cur.eat("not.")
    name = cur.word(_NAME)
    if name == "in":
        cur.expect(".")
        return Condition(field, "in", _list_value(cur), negated)
    if name == "is":
        cur.expect(".")
        value = cur.word(_TRILEAN).lower()
        if value not in IS_VALUES:
            raise cur.fail("is takes null, not_null, true, false or unknown")
        return Condition(field, "is", value, negated)
    config = quantifier = None
    if name in FTS_OPERATORS:
        if cur.eat("("):
            config = cur.word(_CONFIG)
            if not config:
                raise cur.fail("a text search configuration is a name, e.g. fts(english)")
            cur.expect(")")
    elif name in SIMPLE_OPERATORS:
        if cur.peek("("):
            if name not in QUANTIFIABLE:
                raise cur.fail(f"the any/all modifiers apply to {', '.join(sorted(QUANTIFIABLE))} only, not {name}")
            cur.eat("(")
            quantifier = cur.word(_NAME)
            if quantifier not in ("any", "all"):
                raise cur.fail("an operator modifier is (any) or (all)")
            cur.expect(")")
    else:
        raise cur.fail(f"unknown operator {name!r}; allowed: {', '.join(sorted(OPERATORS))}")
    cur.expect(".")
    if in_logic:
        value = _logic_value(cur)
    else:  # outside logic trees the value is the rest, taken as it is (PostgREST does not unquote it)
        value = cur.text[cur.pos:]
        cur.pos = len(cur.text)
    return Condition(field, name, value, negated, quantifier, config)


def parse_condition(column: str, expression: str) -> Condition:
    """`eq.5`, `not.in.(a,b)`, `is.null`, `like(any).{A*,*n}`, `fts(german).wort` for the field `column`."""
    cur = _Cursor(expression, "filter")
    condition = _operation(cur, parse_field(column), in_logic=False)
    if not cur.at_end():
        raise cur.fail("unexpected text after the value")
    return condition


_LOGIC_HEAD = re.compile(r"(not\.)?(and|or)\s*\(")


def parse_logic(key: str, value: str) -> Logic:
    """`or=(a.eq.1,and(b.gt.2,c.lt.3))` with key `or`, `and`, `not.or` or `not.and`."""
    cur = _Cursor(key + value, "logic tree")
    tree = _logic_tree(cur)
    cur.skip_spaces()
    if not cur.at_end():
        raise cur.fail("unexpected text after the logic tree")
    return tree


def _logic_tree(cur: _Cursor) -> Logic:
    negated = cur.eat("not.")
    if cur.eat("and"):
        operator = "and"
    elif cur.eat("or"):
        operator = "or"
    else:
        raise cur.fail("expecting logic operator (and, or)")
    cur.skip_spaces()
    cur.expect("(")
    children = [_logic_item(cur)]
    while True:
        cur.skip_spaces()
        if not cur.eat(","):
            break
        children.append(_logic_item(cur))
    cur.skip_spaces()
    cur.expect(")")
    return Logic(operator, children, negated)


def _logic_item(cur: _Cursor) -> Condition | Logic:
    cur.skip_spaces()
    if _LOGIC_HEAD.match(cur.text, cur.pos):
        return _logic_tree(cur)
    start = cur.pos
    quoted = False
    while cur.pos < len(cur.text):
        ch = cur.text[cur.pos]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in ".,()":
            break
        cur.pos += 1
    if not cur.peek(".") or cur.pos == start:
        raise cur.fail("each item is column.operator.value, and(...) or or(...)")
    field = parse_field(cur.text[start:cur.pos])
    cur.pos += 1
    return _operation(cur, field, in_logic=True)


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


# The preferences PostgREST accepts (docs: preferences) and their values; `tx` is not among them because
# Supabase's PostgREST runs with db-tx-end = commit, which lets no request override the transaction's end.
PREFERENCE_VALUES = {
    "return": frozenset({"minimal", "headers-only", "representation"}),
    "count": frozenset({"exact", "planned", "estimated"}),
    "resolution": frozenset({"merge-duplicates", "ignore-duplicates"}),
    "missing": frozenset({"default", "null"}),
    "handling": frozenset({"strict", "lenient"}),
    "params": frozenset({"single-object"}),
}


def invalid_preferences(headers: list[str]) -> list[str]:
    """The tokens of the Prefer headers PostgREST would not accept (reported under `handling=strict`)."""
    invalid = []
    for header in headers:
        for token in header.split(","):
            token = token.strip()
            if not token:
                continue
            key, _, value = token.partition("=")
            key, value = key.strip().lower(), value.strip()
            if key in PREFERENCE_VALUES and value in PREFERENCE_VALUES[key]:
                continue
            if key == "max-affected" and value.isdigit():
                continue
            if key == "timezone" and value:
                continue  # checked against pg_timezone_names where it is applied
            invalid.append(token)
    return invalid


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
