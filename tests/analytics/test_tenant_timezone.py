"""A tenant's reporting time zone is its own business: a member learns only their own tenant's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from tests.conftest import ACME, BEA, NORDLICHT, member_claims


def zone_of(conn: psycopg.Connection[Any], tenant: str) -> str:
    row = conn.execute("select private.analytics_tenant_timezone(%s)", (tenant,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_member_reads_only_their_own_tenants_time_zone(
    db: psycopg.Connection[Any], as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]]
) -> None:
    db.execute("""update public.tenants set settings = settings || '{"timezone": "Europe/Berlin"}' where id = %s""",
               (ACME,))
    db.execute("""update public.tenants set settings = settings || '{"timezone": "America/New_York"}'
                  where id = %s""", (NORDLICHT,))
    db.commit()
    assert zone_of(db, ACME) == "Europe/Berlin"  # service code (the database owner) reads every tenant's

    bea = as_claims(member_claims(BEA, NORDLICHT))
    assert zone_of(bea, NORDLICHT) == "America/New_York"
    assert zone_of(bea, ACME) == "UTC"  # another tenant's zone is not told
