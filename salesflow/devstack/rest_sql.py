"""Build the SQL for a PostgREST request: every name an Identifier, every value a bound parameter.

Responses are built by Postgres itself (`json_agg`), as PostgREST does, so a row is never decoded and
re-encoded in Python. Type names and default expressions spliced in come from the schema cache (the
catalogue), never from the request.
"""

from __future__ import annotations

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
from salesflow.devstack.schema import Function, Relationship, SchemaCache, Table

COMPARISON = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "like",
              "ilike": "ilike", "cs": "@>", "cd": "<@", "ov": "&&", "match": "~", "imatch": "~*",
              "isdistinct": "is distinct from"}
FTS = {"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery"}
_REGCONFIG = frozenset({"simple", "english", "german", "french", "spanish", "italian", "dutch", "danish",
                        "portuguese", "russian", "swedish", "norwegian", "finnish"})


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


def field_sql(alias: str, f: Field, params: Params) -> sql.Composable:
    expr: sql.Composable = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(f.column))
    for arrow, key in f.path:
        step = params.bind(int(key)) if key.lstrip("-").isdigit() else params.bind(key)
        # ::text / ::int so the operator resolves without the parameter's type being guessed
        cast = sql.SQL("::int") if key.lstrip("-").isdigit() else sql.SQL("::text")
        expr = sql.SQL("{} {} {}{}").format(expr, sql.SQL(arrow), step, cast)
    return expr


def condition_sql(alias: str, c: Condition, params: Params) -> sql.Composable:
    target = field_sql(alias, c.field, params)
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
        config = c.modifier or None
        if config is not None and config not in _REGCONFIG:
            raise ApiError(400, "PGRST100", f"unknown text search configuration {config!r}")
        fn = sql.SQL(FTS[op])
        if config:
            expr = sql.SQL("{} @@ {}({}::regconfig, {})").format(target, fn, sql.Literal(config), params.bind(c.value))
        else:
            expr = sql.SQL("{} @@ {}({})").format(target, fn, params.bind(c.value))
    else:
        value = c.value if isinstance(c.value, str) else ",".join(c.value)
        if op in ("like", "ilike"):
            value = value.replace("*", "%")
        expr = sql.SQL("{} {} {}").format(target, sql.SQL(COMPARISON[op]), params.bind(value))
    return sql.SQL("not ({})").format(expr) if c.negated else expr


def filter_sql(alias: str, f: Condition | Logic, params: Params) -> sql.Composable:
    if isinstance(f, Condition):
        return condition_sql(alias, f, params)
    joiner = sql.SQL(" and ") if f.operator == "and" else sql.SQL(" or ")
    inner = joiner.join(sql.SQL("({})").format(filter_sql(alias, c, params)) for c in f.children) if f.children \
        else sql.SQL("true")
    return sql.SQL("not ({})").format(inner) if f.negated else sql.SQL("({})").format(inner)


def where_sql(alias: str, filters: list[Condition | Logic], params: Params,
              extra: list[sql.Composable] | None = None) -> sql.Composable:
    parts = [filter_sql(alias, f, params) for f in filters] + (extra or [])
    if not parts:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(parts)


def order_sql(alias: str, terms: list[OrderTerm], params: Params) -> sql.Composable:
    if not terms:
        return sql.SQL("")
    rendered = []
    for t in terms:
        piece = sql.SQL("{} {}").format(field_sql(alias, t.field, params), sql.SQL("desc" if t.descending else "asc"))
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

    def select_list(self, table: Table | None, alias: str, items: list[SelectItem],
                    path: tuple[str, ...] = ()) -> sql.Composable:
        rendered: list[sql.Composable] = []
        for item in items:
            if isinstance(item, Star):
                rendered.append(sql.SQL("{}.*").format(sql.Identifier(alias)))
            elif isinstance(item, FieldItem):
                expr = field_sql(alias, item.field, self.params)
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
        filters = [filter_sql(child_alias, f, self.params) for f in opts.filters]
        cond = sql.SQL(" and ").join([join, *filters])
        source = sql.SQL("{} as {}").format(table_ident(target), sql.Identifier(child_alias))
        columns = self.select_list(target, child_alias, item.items, child_path)
        if item.inner:
            self.inner_joins.append(sql.SQL("exists (select 1 from {} where {})").format(source, cond))
        if rel.to_one:
            return sql.SQL("(select row_to_json(_e) from (select {} from {} where {} limit 1) _e) as {}").format(
                columns, source, cond, sql.Identifier(name))
        return sql.SQL(
            "(select coalesce(json_agg(_e), '[]') from (select {} from {} where {}{}{}) _e) as {}"
        ).format(columns, source, cond, order_sql(child_alias, opts.order, self.params),
                 page_sql(opts.limit, opts.offset, self.params), sql.Identifier(name))


def json_body(inner: sql.Composable) -> sql.Composable:
    """Body (array), row count and, when there is exactly one row, that row as an object."""
    return sql.SQL(
        "select coalesce(json_agg(_r), '[]')::text, count(*), "
        "case when count(*) = 1 then (json_agg(_r) -> 0)::text end from ({}) _r"
    ).format(inner)


def read_sql(cache: SchemaCache, table: Table, items: list[SelectItem],
             options: dict[tuple[str, ...], EmbedOptions], limit: int | None, offset: int | None,
             params: Params) -> tuple[sql.Composable, sql.Composable]:
    """The page query and the count query for a GET on a table or view."""
    alias = table.name
    builder = SelectBuilder(cache, options, params)
    columns = builder.select_list(table, alias, items)
    root = options.get((), EmbedOptions())
    where = where_sql(alias, root.filters, params, builder.inner_joins)
    source = sql.SQL("{} as {}").format(table_ident(table), sql.Identifier(alias))
    page = sql.SQL("select {} from {}{}{}{}").format(
        columns, source, where, order_sql(alias, root.order, params), page_sql(limit, offset, params))
    count = sql.SQL("select count(*) from {}{}").format(source, where)
    return json_body(page), count


def returning_body(cache: SchemaCache, table: Table, mutation: sql.Composable, items: list[SelectItem],
                   options: dict[tuple[str, ...], EmbedOptions], params: Params) -> sql.Composable:
    """Run `mutation` (… returning table.*) in a CTE and shape its rows like a read would."""
    alias = table.name
    builder = SelectBuilder(cache, options, params)
    columns = builder.select_list(table, alias, items)
    root = options.get((), EmbedOptions())
    inner = sql.SQL("select {} from pgrst_source as {}{}").format(
        columns, sql.Identifier(alias), order_sql(alias, root.order, params))
    return sql.SQL("with pgrst_source as ({}) ").format(mutation) + json_body(inner)


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
        where_sql(alias, filters, params), sql.Identifier(alias))


def delete_sql(table: Table, filters: list[Condition | Logic], params: Params) -> sql.Composable:
    alias = table.name
    return sql.SQL("delete from {} as {}{} returning {}.*").format(
        table_ident(table), sql.Identifier(alias), where_sql(alias, filters, params), sql.Identifier(alias))


def rpc_sql(cache: SchemaCache, fn: Function, args_json: str, given: list[str], items: list[SelectItem],
            options: dict[tuple[str, ...], EmbedOptions], limit: int | None, offset: int | None,
            params: Params, whole_body: bool = False) -> sql.Composable:
    """Call a function with named arguments taken from a JSON object (typed by the catalogue)."""
    fn_ident = sql.Identifier(fn.schema, fn.name)
    if whole_body:
        call = sql.SQL("{}({}::{})").format(fn_ident, params.bind(args_json), sql.SQL(fn.arguments[0].type))
        prefix: sql.Composable = sql.SQL("")
        from_args: sql.Composable = sql.SQL("")
    elif given:
        by_name = {a.name: a for a in fn.arguments}
        record = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(by_name[n].type)) for n in given)
        prefix = sql.SQL("with _args as (select * from json_to_record({}::json) as _a({})) ").format(
            params.bind(args_json), record)
        call = sql.SQL("{}({})").format(fn_ident, sql.SQL(", ").join(
            sql.SQL("{} => _args.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in given))
        from_args = sql.SQL("_args, ")
    else:
        prefix, from_args = sql.SQL(""), sql.SQL("")
        call = sql.SQL("{}()").format(fn_ident)
    if fn.return_kind == "void":
        return prefix + sql.SQL("select {} from {}(select 1) _one").format(call, from_args)
    if fn.return_kind == "scalar" and not fn.returns_set:
        return prefix + sql.SQL(
            "select coalesce(to_json(_v)::text, 'null'), 1, null from {}lateral (select {} as _v) _one"
        ).format(from_args, call)
    alias = fn.name
    root = options.get((), EmbedOptions())
    if fn.return_kind == "scalar":
        inner = sql.SQL("select {}.* from {}lateral {} as {}{}{}{}").format(
            sql.Identifier(alias), from_args, call, sql.Identifier(alias),
            where_sql(alias, root.filters, params), order_sql(alias, root.order, params),
            page_sql(limit, offset, params))
        return prefix + sql.SQL(
            "select coalesce(json_agg(_r.{}), '[]')::text, count(*), "
            "case when count(*) = 1 then (json_agg(_r.{}) -> 0)::text end from ({}) _r"
        ).format(sql.Identifier(alias), sql.Identifier(alias), inner)
    rettable = _returned_table(cache, fn)
    builder = SelectBuilder(cache, options, params)
    columns = builder.select_list(rettable, alias, items)
    inner = sql.SQL("select {} from {}lateral {} as {}{}{}{}").format(
        columns, from_args, call, sql.Identifier(alias),
        where_sql(alias, root.filters, params, builder.inner_joins), order_sql(alias, root.order, params),
        page_sql(limit, offset, params))
    return prefix + json_body(inner)


def _returned_table(cache: SchemaCache, fn: Function) -> Table | None:
    # `returns setof public.events` can embed like the table itself
    name = fn.return_type.strip('"')
    schema, _, rel = name.rpartition(".")
    return cache.table(schema.strip('"') or "public", rel.strip('"'))
