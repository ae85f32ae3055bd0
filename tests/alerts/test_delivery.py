"""Sending: a 500 is tried again after the backoff (same webhook-id) and then sent; a 4xx is permanent; a
receiver that does not answer in time is retried; alert mail reaches a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from standardwebhooks.webhooks import Webhook

from salesflow.alerts.evaluator import AlertMonitor
from salesflow.alerts.settings import AlertSettings
from salesflow.transports.postgres_store import PostgresEventStore
from tests.alerts.conftest import WebhookReceiver, add_webhook_target, fail_event, notifications
from tests.channels.smtp_server import smtp_server
from tests.conftest import ACME

Conn = psycopg.Connection[Any]


async def round_trip(database: str, settings: AlertSettings, rounds: int = 1, pause: float = 0.0) -> None:
    """What a listener's maintenance rounds do: evaluate, then send what is due."""
    store = PostgresEventStore(database)
    monitor = AlertMonitor(store, "test-listener", settings)
    try:
        for i in range(rounds):
            if i:
                await asyncio.sleep(pause)
            await monitor.evaluate()
            await monitor.sending()
    finally:
        await monitor.close()
        await store.close()


def test_a_500_is_retried_with_backoff_then_sent(quiet_db: Conn, database: str, receiver: WebhookReceiver) -> None:
    db = quiet_db
    _, secret = add_webhook_target(db, receiver.url)
    receiver.statuses = [500]
    fail_event(db)
    settings = AlertSettings(interval_seconds=0, retry_base_seconds=0.6)
    asyncio.run(round_trip(database, settings))
    [pending] = notifications(db)
    assert (pending["status"], pending["attempts"], pending["response_status"]) == ("pending", 1, 500)
    assert "HTTP 500" in pending["last_error"]
    # Not due yet: a round right away sends nothing.
    asyncio.run(round_trip(database, settings))
    assert len(receiver.received) == 1
    asyncio.run(_after(database, settings, 0.7))
    [sent] = notifications(db)
    assert (sent["status"], sent["attempts"], sent["response_status"]) == ("sent", 2, 200)
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the receiver can deduplicate retries
    assert second.at - first.at >= 0.6 * 0.9
    Webhook(secret).verify(second.body, second.headers)


async def _after(database: str, settings: AlertSettings, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await round_trip(database, settings)


def test_a_4xx_is_permanent(quiet_db: Conn, database: str, receiver: WebhookReceiver) -> None:
    db = quiet_db
    add_webhook_target(db, receiver.url)
    receiver.statuses = [410]
    fail_event(db)
    settings = AlertSettings(interval_seconds=0, retry_base_seconds=0.1)
    asyncio.run(round_trip(database, settings, rounds=3, pause=0.2))
    [failed] = notifications(db)
    assert (failed["status"], failed["attempts"], failed["response_status"]) == ("failed", 1, 410)
    assert len(receiver.received) == 1


def test_a_receiver_that_times_out_is_retried(quiet_db: Conn, database: str, receiver: WebhookReceiver) -> None:
    db = quiet_db
    add_webhook_target(db, receiver.url)
    receiver.delay = 1.0
    fail_event(db)
    asyncio.run(round_trip(database, AlertSettings(interval_seconds=0, webhook_timeout_seconds=0.3,
                                                   retry_base_seconds=30)))
    [pending] = notifications(db)
    assert pending["status"] == "pending" and pending["attempts"] == 1
    assert pending["last_error"].startswith("timeout after 0.3 s")


def test_retries_stop_after_max_attempts(quiet_db: Conn, database: str, receiver: WebhookReceiver) -> None:
    db = quiet_db
    add_webhook_target(db, receiver.url)
    receiver.statuses = [503, 503, 503]
    fail_event(db)
    settings = AlertSettings(interval_seconds=0, retry_base_seconds=0.05, max_attempts=2)
    asyncio.run(round_trip(database, settings, rounds=4, pause=0.25))
    [failed] = notifications(db)
    assert (failed["status"], failed["attempts"]) == ("failed", 2)


def test_alert_mail_reaches_a_real_smtp_server(quiet_db: Conn, database: str) -> None:
    db = quiet_db
    db.execute("insert into public.notification_targets (tenant_id, name, kind, email, min_severity)"
               " values (%s, 'oncall', 'email', 'oncall@acme.test', 'warning')", (ACME,))
    db.commit()
    event_id = fail_event(db)
    with smtp_server() as server:
        settings = AlertSettings(interval_seconds=0, smtp_host=server.host, smtp_port=server.port,
                                 smtp_username="mailer", smtp_password="s3cret-smtp", smtp_security="none",
                                 smtp_from="alerts@salesflow.test", dashboard_url="https://app.example/dashboard")
        asyncio.run(round_trip(database, settings))
        [mail] = server.mailbox.received
    assert mail.rcpt_tos == ["oncall@acme.test"]
    assert mail.message["Subject"].startswith("[FIRING] critical · Acme Sales: 1 event(s) failed")
    body = mail.message.get_content()
    assert f"https://app.example/dashboard/#/events?id={event_id}" in body
    assert [(n["status"], n["attempts"]) for n in notifications(db)] == [("sent", 1)]


def test_a_target_above_the_alerts_severity_gets_nothing(quiet_db: Conn, database: str,
                                                          receiver: WebhookReceiver) -> None:
    db = quiet_db
    add_webhook_target(db, receiver.url)
    db.execute("update public.notification_targets set min_severity = 'critical'")
    db.execute("update public.alert_rules set severity = 'warning' where name = 'failed_events'")
    db.commit()
    fail_event(db)
    asyncio.run(round_trip(database, AlertSettings(interval_seconds=0)))
    assert notifications(db) == [] and receiver.received == []
