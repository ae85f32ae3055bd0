"""Four senders at once (as four listeners that all saw notifications due) send each notification exactly once,
and a listener killed with -9 is noticed by its missing heartbeat."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import psycopg
import pytest

from salesflow.alerts.evaluator import AlertMonitor
from salesflow.alerts.settings import AlertSettings
from salesflow.transports.postgres_store import PostgresEventStore
from tests.alerts.conftest import Listener, WebhookReceiver, add_webhook_target, alerts, evaluate, notifications
from tests.conftest import ACME
from tests.polling import wait_until_sync

Conn = psycopg.Connection[Any]


def test_four_concurrent_senders_send_each_notification_once(quiet_db: Conn, database: str,
                                                            receiver: WebhookReceiver) -> None:
    db = quiet_db
    for i in range(5):
        add_webhook_target(db, receiver.url + f"/{i}", name=f"hook-{i}")
    # 6 handlers failing at 100 %: 6 alerts x 5 targets = 30 notifications.
    db.execute("update public.alert_rules set min_count = 1, threshold = 0.5 where name = 'handler_failure_rate'")
    for h in range(6):
        row = db.execute("select private.emit_event(%s, 'test.alert_ok', '{}'::jsonb)", (ACME,)).fetchone()
        assert row is not None
        db.execute("insert into public.event_deliveries (event_id, handler, tenant_id, status, attempts)"
                   " values (%s, %s, %s, 'failed', 1)", (row[0], f"handler.{h}", ACME))
    db.execute("update public.events set status = 'processed' where status = 'pending'")
    db.commit()
    assert evaluate(db)["queued"] == 30
    receiver.delay = 0.05  # sends overlap

    async def senders() -> None:
        stores = [PostgresEventStore(database) for _ in range(4)]
        monitors = [AlertMonitor(s, f"listener-{i}", AlertSettings(interval_seconds=3600))
                    for i, s in enumerate(stores)]
        try:
            await asyncio.gather(*(m.deliver_due() for m in monitors))
        finally:
            for m, s in zip(monitors, stores, strict=True):
                await m.close()
                await s.close()

    asyncio.run(senders())
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {(n["status"], n["attempts"]) for n in notifications(db)} == {("sent", 1)}


@pytest.mark.timeout(120)
def test_a_killed_listener_is_noticed_by_its_missing_heartbeat(quiet_db: Conn, database: str,
                                                               listeners: list[Listener]) -> None:
    db = quiet_db
    db.execute("update public.alert_rules set threshold = 2 where name = 'listener_heartbeat_missing'")
    db.commit()
    listener = Listener(database, {"SALESFLOW_ALERT_INTERVAL": "3600"}, "--lease", "2").start()
    listeners.append(listener)
    worker = wait_until_sync(lambda: db.execute("select worker from private.listener_heartbeats"
                                                " where stopped_at is null").fetchone(), timeout=60)[0]
    db.commit()
    assert listener.proc is not None
    listener.proc.send_signal(signal.SIGKILL)
    listener.proc.wait(10)
    time.sleep(2.5)
    evaluate(db)
    missing = [a for a in alerts(db) if a["metric"] == "listener_heartbeat_missing"]
    assert [a["dedup_key"] for a in missing] == [f"listener_heartbeat_missing:{worker}"]
    assert missing[0]["status"] == "firing"
