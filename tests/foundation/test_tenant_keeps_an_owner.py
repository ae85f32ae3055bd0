"""A tenant keeps an owner even when its two owners demote each other at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.conftest import ACME, ANNA, BEN

DEMOTE = "update public.tenant_members set role = 'member' where tenant_id = %s and user_id = %s"


@pytest.mark.parametrize("isolation", ["read committed", "repeatable read", "serializable"])
def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    isolation: str, database: str, db: psycopg.Connection[Any]
) -> None:
    db.execute("update public.tenant_members set role = 'owner' where tenant_id = %s and user_id = %s", (ACME, BEN))
    db.commit()
    outcome: dict[str, BaseException | None] = {}

    def demote(conn: psycopg.Connection[Any], who: str, other: str, then: Callable[[], None]) -> None:
        try:
            conn.execute(DEMOTE, (ACME, other))
            then()
            conn.commit()
            outcome[who] = None
        except psycopg.Error as exc:
            conn.rollback()
            outcome[who] = exc

    with psycopg.connect(database) as anna, psycopg.connect(database) as ben:
        for conn in (anna, ben):
            conn.execute(f"set transaction isolation level {isolation}")
            conn.execute("select 1 from public.tenant_members").fetchall()  # take the snapshot now
        anna.execute(DEMOTE, (ACME, BEN))  # Anna demotes Ben; before she commits, Ben demotes Anna
        ben_thread = threading.Thread(target=demote, args=(ben, "ben", ANNA, lambda: None))
        ben_thread.start()
        ben_thread.join(timeout=1.0)  # Ben waits for Anna's transaction (or has failed already)
        anna.commit()
        ben_thread.join(timeout=30)
    assert not ben_thread.is_alive()
    refused = outcome["ben"]
    assert isinstance(refused, psycopg.errors.CheckViolation | psycopg.errors.SerializationFailure), refused
    owners = db.execute("select user_id::text from public.tenant_members where tenant_id = %s and role = 'owner'",
                        (ACME,)).fetchall()
    assert owners == [(ANNA,)]
