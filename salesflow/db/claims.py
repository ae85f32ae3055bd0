"""Act as a JWT's role and claims inside a transaction, exactly the way PostgREST does.

PostgREST runs each request in one transaction after `set_config('role', <role claim>, true)` and
`set_config('request.jwt.claims', <claims json>, true)`; that is what makes RLS and auth.uid() apply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import psycopg

API_ROLES = frozenset({"anon", "authenticated", "service_role"})


def act_as(conn: psycopg.Connection[Any], claims: Mapping[str, Any], method: str = "GET", path: str = "/") -> None:
    """Inside an open transaction: switch to the claims' role and expose the claims to SQL."""
    role = claims.get("role", "anon")
    if role not in API_ROLES:
        raise PermissionError(f"role {role!r} is not one of {sorted(API_ROLES)}")
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
        "set_config('request.method', %s, true), set_config('request.path', %s, true)",
        (role, json.dumps(dict(claims)), method, path),
    )
