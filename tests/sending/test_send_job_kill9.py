"""Effect-once sending under `kill -9`: 200 sends through a real `salesflow listen` process to a provider on
127.0.0.1 that answers like Twilio (look-up possible) and WhatsApp Cloud (no look-up), with some answers held
back so kills land inside the provider call. No lead ever gets a message twice; every message ends sent,
failed or unknown."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.polling import wait_until_sync
from tests.sending.conftest import Listener, connect_twilio, connect_whatsapp, make_leads, queue
from tests.sending.provider_mock import ProviderMock

Conn = psycopg.Connection[Any]


def count(db: Conn, query: str, *params: Any) -> int:
    row = db.execute(query, params).fetchone()
    db.commit()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(600)
def test_kill_9_inside_provider_calls_never_messages_a_lead_twice(
    outbox_db: Conn, database: str, provider: ProviderMock, listener_factory: Callable[..., Listener]
) -> None:
    rng = random.Random(20261202)
    connect_twilio(outbox_db, provider)
    connect_whatsapp(outbox_db, provider)
    sms = make_leads(outbox_db, "sms", 100)
    whatsapp = make_leads(outbox_db, "whatsapp", 100, first=100, inbound=True)
    provider.stall_seconds = 4.0
    for _, address in sms + whatsapp:
        if rng.random() < 0.25:
            provider.script[address.lstrip("+")] = ["stall"]
    ids: list[str] = []
    for n, ((sms_lead, _), (wa_lead, _)) in enumerate(zip(sms, whatsapp, strict=True)):  # interleaved: kills hit both
        ids.append(queue(outbox_db, sms_lead, "sms", f"Ihr Angebot Nr. {n}"))
        ids.append(queue(outbox_db, wa_lead, "whatsapp", f"Hallo, hier ist Angebot {n}"))
    done = "select count(*) from public.messages where direction = 'out' and status in ('sent', 'failed', 'unknown')"

    kills_inside_the_call = 0
    for _ in range(3):
        listener = listener_factory(database, "--lease", "2", "--concurrency", "16", "--batch", "20").start()
        # kill while answers are held back, i.e. while sends are inside the provider call
        wait_until_sync(lambda: provider.waiting() >= 2 or count(outbox_db, done) == len(ids), timeout=120,
                        every=0.01, what="sends inside the provider call")
        if provider.waiting() >= 2:
            kills_inside_the_call += 1
        listener.kill9()
    final = listener_factory(database, "--lease", "2", "--concurrency", "16").start()
    wait_until_sync(lambda: count(outbox_db, done) == len(ids), timeout=400, every=0.5,
                    what="every message sent, failed or unknown")
    assert final.terminate() == 0

    requested_twice = {to: n for to, n in provider.counts().items() if n > 1}
    assert requested_twice == {}  # no lead was messaged twice
    statuses = dict(outbox_db.execute(
        "select status, count(*) from public.messages where direction = 'out' group by 1").fetchall())
    assert set(statuses) <= {"sent", "failed", "unknown"}
    assert sum(statuses.values()) == 200
    assert kills_inside_the_call >= 1
    reconciled = count(outbox_db, "select count(*) from public.messages "
                                  "where provider_detail ->> 'reconciled' = 'true'")
    resent_after_not_found = count(outbox_db, "select count(*) from private.message_send_attempts "
                                              "where outcome = 'not_found'")
    print(f"kill -9 x3 ({kills_inside_the_call} inside provider calls): {statuses}; "
          f"requests {sum(provider.counts().values())}; twilio found by look-up {reconciled}; "
          f"sent after a not-found look-up {resent_after_not_found}")
    # A sent message carries exactly the id the provider gave for that lead.
    rows = outbox_db.execute(
        "select i.address, m.provider_message_id from public.messages m join public.channel_identities i "
        "on i.lead_id = m.lead_id and i.channel = m.channel where m.direction = 'out' and m.status = 'sent'").fetchall()
    assert all(provider.accepted[address.lstrip("+")] == pid for address, pid in rows)
    # Every message the provider accepted is known to be sent, or left for a person (WhatsApp cannot be asked).
    by_channel = dict(outbox_db.execute(
        "select m.channel || ':' || m.status, count(*) from public.messages m where m.direction = 'out' "
        "group by 1").fetchall())
    assert by_channel.get("sms:unknown", 0) == 0  # Twilio's look-up settles every doubt
    assert count(outbox_db, "select count(*) from private.message_send_attempts where outcome = 'not_found'") \
        + count(outbox_db, "select count(*) from public.messages where provider_detail ->> 'reconciled' = 'true'") >= 1
    outbox_db.commit()
    assert count(outbox_db, "select count(*) from public.events where type = 'message.sent'") == statuses.get("sent", 0)
