"""With four real listeners running, a failing handler makes ONE alert and ONE webhook delivery (not four), the
delivery carries a Standard Webhooks signature the reference library verifies, and the resolve is sent once."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.alerts.conftest import Listener, WebhookReceiver, add_webhook_target, alerts, notifications
from tests.conftest import ACME
from tests.polling import wait_until_sync

Conn = psycopg.Connection[Any]
FAST = {"SALESFLOW_ALERT_INTERVAL": "0.2", "SALESFLOW_ALERT_RETRY_BASE": "0.5"}


@pytest.mark.timeout(180)
def test_four_listeners_one_alert_one_delivery_then_one_resolve(
    quiet_db: Conn, database: str, receiver: WebhookReceiver, listeners: list[Listener]
) -> None:
    db = quiet_db
    _, secret = add_webhook_target(db, receiver.url)
    for _ in range(4):
        listeners.append(Listener(database, FAST, "--lease", "2", "--concurrency", "4").start())
    wait_until_sync(lambda: db.execute("select count(*) from private.listener_heartbeats where stopped_at is null")
                    .fetchone()[0] == 4, timeout=60, what="four listeners beating")  # type: ignore[index]
    db.commit()

    row = db.execute("select private.emit_event(%s, 'test.alert_fail', '{}'::jsonb, null, 'test', now(), null,"
                     " null, 1)", (ACME,)).fetchone()
    db.commit()
    assert row is not None
    event_id = str(row[0])

    first = receiver.wait_for(1, timeout=60)[0]
    # Several more evaluation rounds by four listeners (each ~1 s maintenance interval).
    wait_until_sync(lambda: next(a for a in alerts(db) if a["metric"] == "failed_events")["count"] >= 4, timeout=30,
                    what="the firing alert seen again")
    time.sleep(1.0)

    firing = [a for a in alerts(db) if a["metric"] == "failed_events"]
    assert len(firing) == 1, firing
    assert firing[0]["status"] == "firing"
    assert [str(i) for i in firing[0]["event_ids"]] == [event_id]
    assert len(receiver.received) == 1, [r.json()["text"] for r in receiver.received]
    sent = notifications(db)
    assert [(n["transition"], n["status"], n["attempts"]) for n in sent] == [("firing", "sent", 1)]

    # The receiver's check: the Standard Webhooks reference implementation verifies the signature.
    payload = Webhook(secret).verify(first.body, first.headers)
    assert first.headers["webhook-id"] == f"msg_{sent[0]['id']}"
    assert first.headers["webhook-signature"].startswith("v1,")
    assert payload["transition"] == "firing"
    assert payload["text"].startswith("[FIRING] critical · Acme Sales: 1 event(s) failed")
    assert payload["blocks"][0]["type"] == "header"
    assert payload["attachments"][0]["color"]
    assert payload["alert"]["event_ids"] == [event_id]
    tampered = first.body.replace(b"FIRING", b"FIXED!")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(tampered, first.headers)

    # Replayed and processed: the condition clears, the alert resolves, and the resolve is sent once.
    db.execute("update public.events set status = 'processed', processed_at = now(), failed_at = null where id = %s",
               (event_id,))
    db.commit()
    second = receiver.wait_for(2, timeout=30)[1]
    resolved = Webhook(secret).verify(second.body, second.headers)
    assert resolved["transition"] == "resolved"
    assert resolved["text"].startswith("[RESOLVED]")
    time.sleep(2.0)
    assert len(receiver.received) == 2
    assert [a["status"] for a in alerts(db) if a["metric"] == "failed_events"] == ["resolved"]

    for listener in listeners:
        assert listener.terminate() == 0, listener.log()[-3000:]
    # A clean stop is recorded, so a stopped listener's silence does not alert.
    assert db.execute("select count(*) from private.listener_heartbeats where stopped_at is null").fetchone() == (0,)
