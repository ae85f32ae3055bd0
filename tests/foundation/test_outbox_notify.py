"""The outbox wakes LISTEN-ing listeners once per statement, whatever the number of rows it inserts."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import ACME


def notifications(database: str, *statements: str) -> list[str]:
    """Payloads a listener on salesflow_events receives for one transaction of `statements`."""
    with psycopg.connect(database, autocommit=True) as listener, psycopg.connect(database) as producer:
        listener.execute("listen salesflow_events")
        with producer.transaction():
            for statement in statements:
                producer.execute(statement.encode())  # type: ignore[arg-type]
        listener.execute("select 1")  # a round trip, so the committed notifications have arrived
        return [n.payload for n in listener.notifies(timeout=0.5, stop_after=100)]


INSERT_MANY = (f"insert into public.events (tenant_id, type) select '{ACME}', 'lead.updated' "
               "from generate_series(1, 500)")


def test_a_500_row_insert_sends_one_notification(database: str) -> None:
    assert len(notifications(database, INSERT_MANY)) == 1


def test_statements_of_one_transaction_fold_into_one_notification(database: str, db: psycopg.Connection[Any]) -> None:
    count = "select count(*) from public.events"
    [(before,)] = db.execute(count).fetchall()
    db.rollback()
    received = notifications(database, INSERT_MANY, INSERT_MANY,
                             f"select public.publish_event('{ACME}', 'lead.updated', '{{}}')")
    assert len(received) == 1
    assert db.execute(count).fetchone() == (before + 1001,)
