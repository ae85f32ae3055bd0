"""The schema cache: tables, views, columns, keys, relationships and functions of the exposed schemas.

PostgREST answers from a schema cache read from the catalogue; so does the local stack. Type names and
default expressions are read with an empty `search_path`, so they come back schema-qualified and can be
placed in generated SQL as they are (they come from the catalogue, never from a request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(), schema-qualified: safe to splice as a cast target
    udt: str  # pg_type.typname, what Realtime reports (int4, _text, timestamptz)
    default: str | None
    nullable: bool


@dataclass(frozen=True)
class Relationship:
    """A foreign key seen from `table`: to-one when `table` holds the key, to-many otherwise."""

    constraint: str
    table: tuple[str, str]
    columns: tuple[str, ...]
    target: tuple[str, str]
    target_columns: tuple[str, ...]
    to_one: bool


@dataclass
class Table:
    schema: str
    name: str
    kind: str
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    relationships: list[Relationship] = field(default_factory=list)
    replica_identity_full: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    has_default: bool


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    arguments: tuple[Argument, ...]
    returns_set: bool
    return_type: str
    return_kind: str  # 'composite' | 'scalar' | 'void'
    volatile: bool


@dataclass
class SchemaCache:
    schemas: tuple[str, ...]
    tables: dict[tuple[str, str], Table]
    functions: dict[tuple[str, str], list[Function]]

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))


TABLES_SQL = """
select c.oid, n.nspname, c.relname, c.relkind::text, c.relreplident = 'f'
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'f', 'p')
"""

COLUMNS_SQL = """
select a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typname,
       -- an identity column has no pg_attrdef default: its default is the next value of its sequence
       coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                case when a.attidentity = 'd' then pg_catalog.format('nextval(%%L::regclass)',
                  pg_catalog.pg_get_serial_sequence(a.attrelid::regclass::text, a.attname)) end),
       not a.attnotnull
from pg_attribute a
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = any(%(oids)s) and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum
"""

CONSTRAINTS_SQL = """
select con.conname, con.contype::text, con.conrelid, con.confrelid,
       array(select a.attname::text from unnest(con.conkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i),
       array(select a.attname::text from unnest(coalesce(con.confkey, '{}')) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.i)
from pg_constraint con
where con.contype in ('p', 'f') and con.conrelid = any(%(oids)s)
"""

FUNCTIONS_SQL = """
select n.nspname, p.proname, p.proretset, pg_catalog.format_type(p.prorettype, null), rt.typtype::text,
       rt.typname, p.pronargdefaults, p.provolatile::text,
       coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
       array(select pg_catalog.format_type(t.x, null)
             from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality t(x, i) order by t.i)
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
where n.nspname = any(%(schemas)s) and p.prokind = 'f'
"""


def load(url: str, schemas: tuple[str, ...]) -> SchemaCache:
    """Read the schema cache for `schemas` from the database at `url`."""
    with psycopg.connect(url, autocommit=True, options="-c search_path=pg_catalog") as conn:
        return _read(conn, schemas)


def _read(conn: psycopg.Connection[Any], schemas: tuple[str, ...]) -> SchemaCache:
    params = {"schemas": list(schemas)}
    by_oid: dict[int, Table] = {}
    for oid, nsp, rel, kind, full in conn.execute(TABLES_SQL, params).fetchall():
        by_oid[oid] = Table(nsp, rel, kind, replica_identity_full=bool(full))
    oids = list(by_oid)
    for relid, name, typ, udt, default, nullable in conn.execute(COLUMNS_SQL, {"oids": oids}).fetchall():
        by_oid[relid].columns[name] = Column(name, typ, udt, default, nullable)
    for conname, contype, relid, frelid, cols, fcols in conn.execute(CONSTRAINTS_SQL, {"oids": oids}).fetchall():
        table = by_oid[relid]
        if contype == "p":
            table.primary_key = tuple(cols)
        elif frelid in by_oid:
            target = by_oid[frelid]
            table.relationships.append(
                Relationship(conname, table.key, tuple(cols), target.key, tuple(fcols), to_one=True)
            )
            target.relationships.append(
                Relationship(conname, target.key, tuple(fcols), table.key, tuple(cols), to_one=False)
            )
    functions: dict[tuple[str, str], list[Function]] = {}
    for row in conn.execute(FUNCTIONS_SQL, params).fetchall():
        nsp, name, retset, rettype, typtype, typname, ndefaults, volatility, argnames, argmodes, argtypes = row
        inputs: list[tuple[str, str]] = []
        for i, typ in enumerate(argtypes):
            mode = argmodes[i] if argmodes else "i"
            if mode in ("i", "b", "v"):
                inputs.append((argnames[i] if i < len(argnames) else "", typ))
        first_default = len(inputs) - ndefaults
        args = tuple(Argument(n, t, i >= first_default) for i, (n, t) in enumerate(inputs))
        if typname == "void":
            kind = "void"
        elif typtype == "c" or typname == "record":
            kind = "composite"
        else:
            kind = "scalar"
        functions.setdefault((nsp, name), []).append(
            Function(nsp, name, args, bool(retset), rettype, kind, volatility == "v")
        )
    return SchemaCache(schemas, {t.key: t for t in by_oid.values()}, functions)
