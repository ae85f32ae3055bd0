"""Alerting on the `supabase` transport: the same evaluation and sends as one RPC each through PostgREST (the
local stack), as a listener deployed against a Supabase project runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from salesflow.alerts.evaluator import AlertMonitor
from salesflow.alerts.settings import AlertSettings
from salesflow.devstack import DevStack
from salesflow.transports.supabase import open_supabase
from tests.alerts.conftest import WebhookReceiver, add_webhook_target, alerts, fail_event, notifications

Conn = psycopg.Connection[Any]


@pytest.fixture
def stack(quiet_db: Conn, database: str) -> Iterator[DevStack]:
    running = DevStack(database, port=0).start_in_thread()
    try:
        yield running
    finally:
        running.stop_in_thread()


def test_evaluate_and_send_over_postgrest(quiet_db: Conn, stack: DevStack,
                                          receiver: WebhookReceiver) -> None:
    db = quiet_db
    _, secret = add_webhook_target(db, receiver.url)
    event_id = fail_event(db)

    async def rounds() -> None:
        transport = open_supabase(stack.url, stack.service_role_key, listen=False)
        store: Any = transport.store
        monitor = AlertMonitor(store, "supabase-listener", AlertSettings(interval_seconds=0))
        try:
            first = await monitor.evaluate()
            assert first["evaluated"] is True and first["fired"] == 1
            await monitor.sending()
            again = await monitor.evaluate()
            assert again["updated"] == 1 and again["queued"] == 0
            await monitor.sending()
        finally:
            await monitor.close()
            await transport.close()

    asyncio.run(rounds())
    [got] = receiver.wait_for(1)
    assert Webhook(secret).verify(got.body, got.headers)["alert"]["event_ids"] == [event_id]
    assert [(a["metric"], a["count"]) for a in alerts(db)] == [("failed_events", 2)]
    assert [n["status"] for n in notifications(db)] == ["sent"]
    row = db.execute("select stopped_at is not null from private.listener_heartbeats where worker = 'supabase-listener'"
                     ).fetchone()
    assert row == (True,)
