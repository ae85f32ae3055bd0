"""What both transports' `TenantData` share: name checks and the tenant stamp on rows.

Names reach SQL (postgres) or a PostgREST URL (supabase), so both refuse anything but lower-case
identifiers before a statement is built; rows are stamped with the event's tenant, and a row naming
another tenant is refused, because the service role bypasses RLS (DESIGN.md, principle 4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# The role handlers' data access runs as on every transport, and the JWT claims PostgREST sets for it.
SERVICE_ROLE = "service_role"
SERVICE_ROLE_CLAIMS = {"role": SERVICE_ROLE}


def split_name(name: str, what: str) -> tuple[str, str]:
    """`name` or `schema.name` as (schema, name), schema `public` by default; ValueError names `what`."""
    parts = name.split(".")
    if len(parts) == 1:
        parts = ["public", parts[0]]
    if len(parts) != 2 or not all(NAME.match(p) for p in parts):
        raise ValueError(f"{what}: {name!r} is not `name` or `schema.name` (lower-case identifiers)")
    return parts[0], parts[1]


def column_names(names: Sequence[str], what: str) -> list[str]:
    """The names, each checked to be a column name; ValueError names `what` and the bad name."""
    for n in names:
        if not NAME.match(n):
            raise ValueError(f"{what}: {n!r} is not a column name (lower-case identifier)")
    return list(names)


def conflict_targets(on_conflict: str | Sequence[str]) -> list[str]:
    """An upsert's conflict target, `"a,b"` or `["a", "b"]`, as checked column names."""
    names = [c.strip() for c in on_conflict.split(",")] if isinstance(on_conflict, str) else list(on_conflict)
    return column_names(names, "on_conflict")


def scoped_rows(tenant_id: UUID, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts stamped with `tenant_id`; a row naming another tenant, or a column
    that is not a plain name, is refused with its index."""
    scoped = []
    for i, row in enumerate(rows):
        given = row.get("tenant_id")
        if given is not None and str(given) != str(tenant_id):
            raise PermissionError(f"rows[{i}].tenant_id: {given} is not this event's tenant {tenant_id}")
        column_names(list(row), f"rows[{i}]")
        scoped.append({**jsonable(row), "tenant_id": str(tenant_id)})
    return scoped


def scoped_args(tenant_id: UUID, function: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """A function call's arguments as JSON-ready values, refused when any of them names another tenant.

    The SQL API's convention: a function that acts for a tenant takes it as `p_tenant_id`, and rows it
    writes carry `tenant_id` (e.g. `ai_track_usage(p_rows)`). Under the service role nothing else scopes
    them, so every such value, at any depth, must be the event's tenant (NULL, which some functions read
    as "every tenant" or "global", is refused too). Functions without a tenant argument act as the
    service role, bound by its grants.
    """
    def check(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key in _TENANT_KEYS and str(inner) != str(tenant_id):
                    raise PermissionError(f"{function}: {where}{key} is {inner}, not this event's tenant {tenant_id}")
                check(inner, f"{where}{key}.")
        elif isinstance(value, list | tuple):
            for i, inner in enumerate(value):
                check(inner, f"{where[:-1]}[{i}].")

    column_names(list(args), "args")
    check(args, "")
    return dict(jsonable(args))


_TENANT_KEYS = frozenset({"tenant_id", "p_tenant_id"})


def refuse_tenant_move(values: Mapping[str, Any]) -> None:
    """An update never moves a row to another tenant, nor updates nothing."""
    if not values:
        raise ValueError("values: nothing to update")
    if "tenant_id" in values:
        raise PermissionError("values.tenant_id: a row cannot move to another tenant")


def jsonable(value: Any) -> Any:
    """UUIDs and datetimes as strings, tuples and sets as lists, recursively (what JSON carries)."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
