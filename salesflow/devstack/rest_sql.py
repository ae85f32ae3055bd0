"""Build the SQL for a PostgREST request: every name an Identifier, every value a bound parameter.

Responses are built by Postgres itself (`json_agg`), as PostgREST does, so a row is never decoded and
re-encoded in Python. Type names and default expressions spliced in come from the schema cache (the
catalogue), never from the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from salesflow.devstack.errors import ApiError
from salesflow.devstack.rest_parse import (
    IS_VALUES,
    Condition,
    Embed,
    EmbedOptions,
    Field,
    FieldItem,
    Logic,
    OrderTerm,
    SelectItem,
    Star,
)
from salesflow.devstack.schema import Column, Function, Relationship, SchemaCache, Table

# The SQL of each operator of PostgREST's operator table (tables_views: Operators).
COMPARISON = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "like",
              "ilike": "ilike", "match": "~", "imatch": "~*", "cs": "@>", "cd": "<@", "ov": "&&", "sl": "<<",
              "sr": ">>", "nxr": "&<", "nxl": "&>", "adj": "-|-", "isdistinct": "is distinct from"}
FTS = {"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery"}
Columns = Mapping[str, Column] | None


@dataclass
class Params:
    """Named bound parameters, collected while the statement is composed."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> sql.Composable:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def composed(query: sql.Composable) -> sql.Composed:
    """A statement as psycopg's execute() types it."""
    return query if isinstance(query, sql.Composed) else sql.Composed([query])


def table_ident(table: Table) -> sql.Composable:
    return sql.Identifier(table.schema, table.name)


def field_sql(alias: str, f: Field, params: Params, columns: Columns = None) -> sql.Composable:
    expr: sql.Composable = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(f.column))
    column = columns.get(f.column) if columns is not None and f.path else None
    if column is not None and column.udt not in ("json", "jsonb"):
        # docs (composite_array_columns): arrows on an array or composite column work on to_jsonb(<col>)
        expr = sql.SQL("to_jsonb({})").format(expr)
    for arrow, key in f.path:
        step = params.bind(int(key)) if key.lstrip("-").isdigit() else params.bind(key)
        # ::text / ::int so the operator resolves without the parameter's type being guessed
        cast = sql.SQL("::int") if key.lstrip("-").isdigit() else sql.SQL("::text")
        expr = sql.SQL("{} {} {}{}").format(expr, sql.SQL(arrow), step, cast)
    return expr


Embeds = Mapping[str, sql.Composable] | None
EMBED_FILTER = "An embedded resource can only be filtered using the is.null or not.is.null operators"


def condition_sql(alias: str, c: Condition, params: Params, columns: Columns = None,
                  embeds: Embeds = None) -> sql.Composable:
    """One filter as SQL: the field quoted, the value bound (typed by Postgres from the column).

    `embeds` maps the names of the embedded resources of this level to their `exists (…)`: docs
    (embedding, Null filtering on Embedded Resources) `?select=*,leads(*)&leads=not.is.null` keeps the rows
    that have one, `leads=is.null` those that have none."""
    if embeds and c.field.column in embeds and not c.field.path and (columns is None or c.field.column not in columns):
        if c.operator != "is" or c.value not in ("null", "not_null"):
            raise ApiError(400, "PGRST120", EMBED_FILTER)
        exists = embeds[c.field.column]
        present = (c.value == "not_null") != c.negated
        return exists if present else sql.SQL("not {}").format(exists)
    target = field_sql(alias, c.field, params, columns)
    op = c.operator
    if op == "is":
        assert isinstance(c.value, str)
        expr: sql.Composable = sql.SQL("{} is {}").format(target, sql.SQL(IS_VALUES[c.value]))
    elif op == "in":
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        if not values:
            expr = sql.SQL("false")
        else:
            expr = sql.SQL("{} in ({})").format(target, sql.SQL(", ").join(params.bind(v) for v in values))
    elif op in FTS:
        assert isinstance(c.value, str)
        config = sql.SQL("{}::regconfig, ").format(params.bind(c.config)) if c.config else sql.SQL("")
        if not _is_tsvector(c, columns):
            # docs (fts_to_tsvector): a column that is not a tsvector is converted with to_tsvector()
            target = sql.SQL("to_tsvector({}{})").format(config, target)
        expr = sql.SQL("{} @@ {}({}{})").format(target, sql.SQL(FTS[op]), config, params.bind(c.value))
    else:
        assert isinstance(c.value, str)
        value = c.value.replace("*", "%") if op in ("like", "ilike") else c.value
        if c.quantifier:
            # docs (modifiers): `like(any).{O*,P*}` is `like any('{O%,P%}')`; the array is typed by the column
            expr = sql.SQL("{} {} {}({})").format(target, sql.SQL(COMPARISON[op]), sql.SQL(c.quantifier),
                                                  params.bind(value))
        else:
            expr = sql.SQL("{} {} {}").format(target, sql.SQL(COMPARISON[op]), params.bind(value))
    return sql.SQL("not ({})").format(expr) if c.negated else expr


def _is_tsvector(c: Condition, columns: Columns) -> bool:
    if c.field.path:
        return False
    if columns is None:  # a function's scalar result: its type is not in the cache, leave it as it is
        return True
    column = columns.get(c.field.column)
    return column is None or column.udt == "tsvector"


def filter_sql(alias: str, f: Condition | Logic, params: Params, columns: Columns = None,
               embeds: Embeds = None) -> sql.Composable:
    if isinstance(f, Condition):
        return condition_sql(alias, f, params, columns, embeds)
    joiner = sql.SQL(" and ") if f.operator == "and" else sql.SQL(" or ")
    inner = joiner.join(sql.SQL("({})").format(filter_sql(alias, c, params, columns, embeds))
                        for c in f.children) if f.children else sql.SQL("true")
    return sql.SQL("not ({})").format(inner) if f.negated else sql.SQL("({})").format(inner)


def where_sql(alias: str, filters: list[Condition | Logic], params: Params,
              extra: list[sql.Composable] | None = None, columns: Columns = None,
              embeds: Embeds = None) -> sql.Composable:
    parts = [filter_sql(alias, f, params, columns, embeds) for f in filters] + (extra or [])
    if not parts:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(parts)


def order_sql(alias: str, terms: list[OrderTerm], params: Params, columns: Columns = None) -> sql.Composable:
    if not terms:
        return sql.SQL("")
    rendered = []
    for t in terms:
        piece = sql.SQL("{} {}").format(field_sql(alias, t.field, params, columns),
                                        sql.SQL("desc" if t.descending else "asc"))
        if t.nulls:
            piece = sql.SQL("{} nulls {}").format(piece, sql.SQL(t.nulls))
        rendered.append(piece)
    return sql.SQL(" order by ") + sql.SQL(", ").join(rendered)


def page_sql(limit: int | None, offset: int | None, params: Params) -> sql.Composable:
    out: sql.Composable = sql.SQL("")
    if limit is not None:
        out = out + sql.SQL(" limit ") + params.bind(limit)
    if offset:
        out = out + sql.SQL(" offset ") + params.bind(offset)
    return out


@dataclass
class SelectBuilder:
    """Compose select lists with embedded resources over foreign keys."""

    cache: SchemaCache
    options: dict[tuple[str, ...], EmbedOptions]
    params: Params
    depth: int = 0
    inner_joins: list[sql.Composable] = field(default_factory=list)
    # the root's `*` as its table's columns, for sources that carry extra columns (PUT's inserted flag)
    star_columns: list[str] | None = None
    # the root's embedded resources by name, as `exists (…)`, for the null filters on them
    root_embeds: dict[str, sql.Composable] = field(default_factory=dict)

    def select_list(self, table: Table | None, alias: str, items: list[SelectItem],
                    path: tuple[str, ...] = ()) -> sql.Composable:
        rendered: list[sql.Composable] = []
        if len(items) == 1 and isinstance(items[0], FieldItem) and items[0].field == Field("count") \
                and items[0].cast is None and (table is None or "count" not in table.columns):
            # docs (aggregate_functions, The Case of count()): the legacy `count` without parentheses counts the
            # rows of its level, aggregates enabled or not (`select=*,leads(count)` gives `leads: [{"count": 7}]`)
            return sql.SQL("count(*) as {}").format(sql.Identifier(items[0].alias or "count"))
        for item in items:
            if isinstance(item, Star):
                if self.star_columns is not None and not path:
                    rendered.extend(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c))
                                    for c in self.star_columns)
                else:
                    rendered.append(sql.SQL("{}.*").format(sql.Identifier(alias)))
            elif isinstance(item, FieldItem):
                expr = field_sql(alias, item.field, self.params, table.columns if table is not None else None)
                if item.cast:
                    expr = sql.SQL("({})::{}").format(expr, sql.SQL(item.cast))
                name = item.alias or item.field.output_name
                rendered.append(sql.SQL("{} as {}").format(expr, sql.Identifier(name)))
            else:
                if table is None:
                    raise ApiError(400, "PGRST200", f"Could not find a relationship for '{item.name}'",
                                   "embedding needs a table or view of the exposed schemas")
                rendered.append(self.embed(table, alias, item, path))
        return sql.SQL(", ").join(rendered)

    def relationship(self, table: Table, embed: Embed) -> Relationship:
        candidates = [r for r in table.relationships if r.target[1] == embed.name and r.target[0] in self.cache.schemas]
        if embed.hint:
            candidates = [r for r in candidates if embed.hint == r.constraint
                          or embed.hint in r.columns or embed.hint in r.target_columns]
        if not candidates:
            raise ApiError(
                400, "PGRST200",
                f"Could not find a relationship between '{table.name}' and '{embed.name}' in the schema cache",
                f"Searched for a foreign key relationship between '{table.name}' and '{embed.name}'"
                + (f" using the hint '{embed.hint}'" if embed.hint else "") + " in the schema 'public', "
                "but no matches were found.",
                "Perhaps you meant a table whose foreign keys reference this one.",
            )
        if len(candidates) > 1:
            names = ", ".join(r.constraint for r in candidates)
            raise ApiError(
                300, "PGRST201",
                f"Could not embed because more than one relationship was found for '{table.name}' and '{embed.name}'",
                f"candidates: {names}",
                f"Try changing '{embed.name}' to one of: "
                + ", ".join(f"'{embed.name}!{r.constraint}'" for r in candidates),
            )
        return candidates[0]

    def embed(self, table: Table, alias: str, item: Embed, path: tuple[str, ...]) -> sql.Composable:
        rel = self.relationship(table, item)
        target = self.cache.tables[rel.target]
        self.depth += 1
        child_alias = f"{target.name}_{self.depth}"
        name = item.alias or item.name
        child_path = (*path, name)
        opts = self.options.get(child_path) or self.options.get((*path, item.name)) or EmbedOptions()
        join = sql.SQL(" and ").join(
            sql.SQL("{}.{} = {}.{}").format(sql.Identifier(child_alias), sql.Identifier(tc),
                                            sql.Identifier(alias), sql.Identifier(c))
            for c, tc in zip(rel.columns, rel.target_columns, strict=True)
        )
        filters = [filter_sql(child_alias, f, self.params, target.columns) for f in opts.filters]
        cond = sql.SQL(" and ").join([join, *filters])
        source = sql.SQL("{} as {}").format(table_ident(target), sql.Identifier(child_alias))
        columns = self.select_list(target, child_alias, item.items, child_path)
        if item.spread:
            return self.spread(rel, target, child_alias, source, cond, item, child_path)
        exists = sql.SQL("exists (select 1 from {} where {})").format(source, cond)
        if not path:
            self.root_embeds[name] = exists
        if item.inner:
            self.inner_joins.append(exists)
        if rel.to_one:
            return sql.SQL("(select row_to_json(_e) from (select {} from {} where {} limit 1) _e) as {}").format(
                columns, source, cond, sql.Identifier(name))
        return sql.SQL(
            "(select coalesce(json_agg(_e), '[]') from (select {} from {} where {}{}{}) _e) as {}"
        ).format(columns, source, cond, order_sql(child_alias, opts.order, self.params, target.columns),
                 page_sql(opts.limit, opts.offset, self.params), sql.Identifier(name))


    def spread(self, rel: Relationship, target: Table, child_alias: str, source: sql.Composable,
               cond: sql.Composable, item: Embed, path: tuple[str, ...]) -> sql.Composable:
        """docs (resource_embedding, Spread embedded resource): a to-one embed's columns at the parent's level."""
        if not rel.to_one:
            raise ApiError(400, "PGRST119", f"A spread operation on '{item.name}' is not possible",
                           f"'{rel.table[1]}' and '{item.name}' do not form a many-to-one or one-to-one relationship")
        if item.inner:
            self.inner_joins.append(sql.SQL("exists (select 1 from {} where {})").format(source, cond))
        rendered: list[sql.Composable] = []
        for child in item.items:
            names = list(target.columns) if isinstance(child, Star) else None
            if names is not None:
                rendered.extend(sql.SQL("(select {}.{} from {} where {} limit 1) as {}").format(
                    sql.Identifier(child_alias), sql.Identifier(c), source, cond, sql.Identifier(c)) for c in names)
            elif isinstance(child, FieldItem):
                expr = field_sql(child_alias, child.field, self.params, target.columns)
                if child.cast:
                    expr = sql.SQL("({})::{}").format(expr, sql.SQL(child.cast))
                rendered.append(sql.SQL("(select {} from {} where {} limit 1) as {}").format(
                    expr, source, cond, sql.Identifier(child.alias or child.field.output_name)))
            else:
                # an embed inside the spread: rendered inside the to-one row and taken out of it by name
                assert isinstance(child, Embed)
                inner = self.embed(target, child_alias, child, path)
                rendered.append(sql.SQL("(select _s.{} from (select {} from {} where {} limit 1) _s) as {}").format(
                    sql.Identifier(child.alias or child.name), inner, source, cond,
                    sql.Identifier(child.alias or child.name)))
        return sql.SQL(", ").join(rendered)


@dataclass(frozen=True)
class Output:
    """How the rows become the response body: `json` (array, or one object) or `csv`; nulls stripped or not."""

    media: str = "json"
    strip_nulls: bool = False


JSON_OUTPUT = Output()
# PostgREST's CSV: a header of the column names, then each row's record text without its parentheses.
_CSV_BODY = sql.SQL(
    "coalesce((select string_agg(_k, ',') from json_object_keys(json_agg(_r) -> 0) _k), '') || chr(10) || "
    "coalesce(string_agg(substring(_r::text, 2, length(_r::text) - 2), chr(10)), '')"
)


def json_body(inner: sql.Composable, output: Output = JSON_OUTPUT, extra: sql.Composable | None = None,
              element: sql.Composable = sql.SQL("_r")) -> sql.Composable:
    """Body, row count, the row as an object when there is exactly one, and `extra` (or null)."""
    if output.media == "csv":
        body: sql.Composable = _CSV_BODY
        single: sql.Composable = sql.SQL("null::text")
    else:
        agg = sql.SQL("json_agg({})").format(element)
        if output.strip_nulls:
            agg = sql.SQL("json_strip_nulls({})").format(agg)
        body = sql.SQL("coalesce({}, '[]')::text").format(agg)
        single = sql.SQL("case when count(*) = 1 then ({} -> 0)::text end").format(agg)
    return sql.SQL("select {}, count(*), {}, {} from ({}) _r").format(
        body, single, extra if extra is not None else sql.SQL("null"), inner)


def read_sql(cache: SchemaCache, table: Table, items: list[SelectItem],
             options: dict[tuple[str, ...], EmbedOptions], limit: int | None, offset: int | None,
             params: Params, output: Output = JSON_OUTPUT) -> tuple[sql.Composable, sql.Composable]:
    """The page query and the count query for a GET on a table or view."""
    alias = table.name
    builder = SelectBuilder(cache, options, params)
    columns = builder.select_list(table, alias, items)
    root = options.get((), EmbedOptions())
    where = where_sql(alias, root.filters, params, builder.inner_joins, table.columns, builder.root_embeds)
    source = sql.SQL("{} as {}").format(table_ident(table), sql.Identifier(alias))
    page = sql.SQL("select {} from {}{}{}{}").format(
        columns, source, where, order_sql(alias, root.order, params, table.columns), page_sql(limit, offset, params))
    count = sql.SQL("select count(*) from {}{}").format(source, where)
    return json_body(page, output), count


def returning_body(cache: SchemaCache, table: Table, mutation: sql.Composable, items: list[SelectItem],
                   options: dict[tuple[str, ...], EmbedOptions], params: Params, output: Output = JSON_OUTPUT,
                   extra: sql.Composable | None = None) -> sql.Composable:
    """Run `mutation` (… returning table.*) in a CTE and shape its rows like a read would."""
    alias = table.name
    builder = SelectBuilder(cache, options, params, star_columns=list(table.columns))
    columns = builder.select_list(table, alias, items)
    root = options.get((), EmbedOptions())
    inner = sql.SQL("select {} from pgrst_source as {}{}").format(
        columns, sql.Identifier(alias), order_sql(alias, root.order, params, table.columns))
    return sql.SQL("with pgrst_source as ({}) ").format(mutation) + json_body(inner, output, extra)


def check_columns(table: Table, columns: list[str]) -> None:
    for c in columns:
        if c not in table.columns:
            raise ApiError(400, "PGRST204", f"Could not find the '{c}' column of '{table.name}' in the schema cache")


def insert_sql(table: Table, columns: list[str], body_json: str, missing_default: bool,
               on_conflict: list[str] | None, resolution: str | None, params: Params) -> sql.Composable:
    """insert … select from the JSON body (one row per element), with on conflict when upserting."""
    check_columns(table, columns)
    alias = sql.Identifier(table.name)
    exprs = []
    for c in columns:
        value = sql.SQL("_p.{}").format(sql.Identifier(c))
        if missing_default:
            default = table.columns[c].default
            exprs.append(sql.SQL("case when _j.r ? {} then {} else {} end").format(
                params.bind(c), value, sql.SQL(default) if default else sql.SQL("null")))
        else:
            exprs.append(value)
    statement = sql.SQL(
        "insert into {} as {} ({}) select {} from jsonb_array_elements({}::jsonb) with ordinality as _j(r, i), "
        "jsonb_populate_record(null::{}, _j.r) as _p order by _j.i"
    ).format(table_ident(table), alias, sql.SQL(", ").join(map(sql.Identifier, columns)),
             sql.SQL(", ").join(exprs), params.bind(body_json), table_ident(table))
    if resolution:
        target = on_conflict or list(table.primary_key)
        if not target:
            raise ApiError(400, "PGRST100", f"'{table.name}' has no primary key: upsert needs on_conflict")
        check_columns(table, target)
        conflict = sql.SQL(", ").join(map(sql.Identifier, target))
        if resolution == "ignore-duplicates":
            statement += sql.SQL(" on conflict ({}) do nothing").format(conflict)
        else:
            updates = [c for c in columns if c not in target] or list(target)
            statement += sql.SQL(" on conflict ({}) do update set {}").format(
                conflict, sql.SQL(", ").join(
                    sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates))
    return statement + sql.SQL(" returning {}.*").format(alias)


def update_sql(table: Table, columns: list[str], body_json: str, filters: list[Condition | Logic],
               params: Params) -> sql.Composable:
    check_columns(table, columns)
    alias = table.name
    sets = sql.SQL(", ").join(
        sql.SQL("{} = _p.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns)
    return sql.SQL(
        "update {} as {} set {} from jsonb_populate_record(null::{}, {}::jsonb) as _p{} returning {}.*"
    ).format(
        table_ident(table), sql.Identifier(alias), sets, table_ident(table), params.bind(body_json),
        where_sql(alias, filters, params, columns=table.columns), sql.Identifier(alias))


def delete_sql(table: Table, filters: list[Condition | Logic], params: Params) -> sql.Composable:
    alias = table.name
    return sql.SQL("delete from {} as {}{} returning {}.*").format(
        table_ident(table), sql.Identifier(alias), where_sql(alias, filters, params, columns=table.columns),
        sql.Identifier(alias))


def put_sql(table: Table, columns: list[str], body_json: str, key: dict[str, str], params: Params) -> sql.Composable:
    """PUT: insert the one row whose primary key equals the URL's, or update it (docs: upsert_put).

    A body whose key differs from the URL inserts nothing (the caller refuses that with PGRST115); the
    extra `pgrst_inserted` column tells an insert (201) from an update (200)."""
    check_columns(table, columns)
    alias = sql.Identifier(table.name)
    matches = sql.SQL(" and ").join(
        sql.SQL("_p.{} = {}").format(sql.Identifier(c), params.bind(v)) for c, v in key.items())
    updates = [c for c in columns if c not in key] or list(key)
    return sql.SQL(
        "insert into {} as {} ({}) select {} from jsonb_populate_record(null::{}, {}::jsonb) as _p where {} "
        "on conflict ({}) do update set {} returning {}.*, ({}.xmax = 0) as pgrst_inserted"
    ).format(
        table_ident(table), alias, sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.SQL("_p.{}").format(sql.Identifier(c)) for c in columns),
        table_ident(table), params.bind(body_json), matches,
        sql.SQL(", ").join(map(sql.Identifier, key)),
        sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates),
        alias, alias)


def rpc_sql(cache: SchemaCache, fn: Function, args_json: str, given: list[str], items: list[SelectItem],
            options: dict[tuple[str, ...], EmbedOptions], limit: int | None, offset: int | None,
            params: Params, whole_body: bool = False, output: Output = JSON_OUTPUT,
            count: bool = False) -> tuple[sql.Composable, sql.Composable]:
    """Call a function with named arguments taken from a JSON object (typed by the catalogue).

    Returns the statement (body, rows, single row, total when `count`) and the query a planned count
    explains. A set's rows are filtered once into a materialized CTE, so the function runs once even
    when the total is counted beside the page."""
    fn_ident = sql.Identifier(fn.schema, fn.name)
    ctes: list[sql.Composable] = []
    from_args: sql.Composable = sql.SQL("")
    if whole_body:
        call = sql.SQL("{}({}::{})").format(fn_ident, params.bind(args_json), sql.SQL(fn.arguments[0].type))
    elif given:
        by_name = {a.name: a for a in fn.arguments}
        record = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(by_name[n].type)) for n in given)
        ctes.append(sql.SQL("_args as (select * from json_to_record({}::json) as _a({}))").format(
            params.bind(args_json), record))
        call = sql.SQL("{}({})").format(fn_ident, sql.SQL(", ").join(
            sql.SQL("{} => _args.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in given))
        from_args = sql.SQL("_args, ")
    else:
        call = sql.SQL("{}()").format(fn_ident)

    def with_ctes(extra: list[sql.Composable]) -> sql.Composable:
        every = ctes + extra
        return sql.SQL("with {} ").format(sql.SQL(", ").join(every)) if every else sql.SQL("")

    if fn.return_kind == "void":
        # the call first, then the four columns every statement answers (read from the end)
        statement = with_ctes([]) + sql.SQL("select {}, '', 0, null, null from {}(select 1) _one").format(
            call, from_args)
        return statement, statement
    if fn.return_kind == "scalar" and not fn.returns_set:
        statement = with_ctes([]) + sql.SQL(
            "select coalesce(to_json(_v)::text, 'null'), 1, null, 1 from {}lateral (select {} as _v) _one"
        ).format(from_args, call)
        return statement, statement
    alias = fn.name
    ident = sql.Identifier(alias)
    root = options.get((), EmbedOptions())
    rettable = _returned_table(cache, fn) if fn.return_kind != "scalar" else None
    builder = SelectBuilder(cache, options, params)
    if fn.return_kind == "scalar":
        columns: sql.Composable = sql.SQL("{}.*").format(ident)
        element: sql.Composable = sql.SQL("_r.{}").format(ident)
    else:
        columns = builder.select_list(rettable, alias, items)
        element = sql.SQL("_r")
    where = where_sql(alias, root.filters, params, builder.inner_joins,
                      rettable.columns if rettable is not None else None, builder.root_embeds)
    source = sql.SQL("pgrst_source as materialized (select {}.* from {}lateral {} as {}{})").format(
        ident, from_args, call, ident, where)
    page = sql.SQL("select {} from pgrst_source as {}{}{}").format(
        columns, ident, order_sql(alias, root.order, params, rettable.columns if rettable is not None else None),
        page_sql(limit, offset, params))
    total = sql.SQL("(select count(*) from pgrst_source)") if count else None
    statement = with_ctes([source]) + json_body(page, output, total, element)
    estimate = with_ctes([]) + sql.SQL("select 1 from {}lateral {} as {}{}").format(from_args, call, ident, where)
    return statement, estimate


def _returned_table(cache: SchemaCache, fn: Function) -> Table | None:
    # `returns setof public.events` can embed like the table itself
    name = fn.return_type.strip('"')
    schema, _, rel = name.rpartition(".")
    return cache.table(schema.strip('"') or "public", rel.strip('"'))
