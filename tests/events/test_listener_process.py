"""Promises about processes, tested on a real `salesflow listen` subprocess against the real database."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from engine_helpers import ACME, NORDLICHT, Listener, emit, statuses, wait_until_sync

Conn = psycopg.Connection[Any]



def count(db: Conn, query: str, *params: Any) -> int:
    row = db.execute(query, params).fetchone()
    db.commit()
    assert row is not None
    return int(row[0])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.loads(response.read()))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("window_ms", ["20", "0"], ids=["claim-windows", "leases-only"])
def test_kill_9_at_random_points_every_event_processed_each_side_effect_once(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener], window_ms: str
) -> None:
    rng = random.Random(20261125)
    total = 2000
    with outbox.transaction():
        outbox.execute(
            "select private.emit_event(case when i %% 2 = 0 then %s::uuid else %s::uuid end, 'lead.created', "
            "jsonb_build_object('lead_id', gen_random_uuid(), 'source_channel', 'web', 'name', 'Lead ' || i), "
            "null, 'test', now(), null, null, 50) from generate_series(1, %s) i",
            (ACME, NORDLICHT, total),
        )
    processed = lambda: count(outbox, "select count(*) from public.events where status = 'processed' "  # noqa: E731
                              "and source = 'test'")
    kills = 0
    killed_mid_work = 0
    while kills < 6 and processed() < total:
        listener = listener_factory(database, "--lease", "2", "--concurrency", "16", "--batch", "50",
                                    "--window-ms", window_ms).start()
        target = min(total - 1, processed() + rng.randint(40, 300))
        wait_until_sync(lambda t=target: processed() >= t, timeout=60, every=0.005)
        listener.kill9()
        kills += 1
        # Killed mid-work: leased events stay behind (recovered when their lease expires), or a claim
        # window rolled back after its handlers wrote their side effects (those events run again).
        if count(outbox, "select count(*) from public.events e where e.status = 'processing' or "
                         "(e.status = 'pending' and exists (select 1 from public.analytics_events a "
                         "where a.event_id = e.id))"):
            killed_mid_work += 1
    final = listener_factory(database, "--lease", "2", "--window-ms", window_ms).start()
    wait_until_sync(lambda: processed() == total, timeout=120)
    assert final.terminate() == 0

    assert statuses(outbox) == {"processed": total + 12}  # + the seed's events
    duplicates = count(outbox, "select count(*) from (select event_id from public.analytics_events "
                               "group by event_id, handler having count(*) > 1) d")
    missing = count(outbox, "select count(*) from public.events e where e.source = 'test' and not exists "
                            "(select 1 from public.analytics_events a where a.event_id = e.id)")
    assert (duplicates, missing) == (0, 0)
    assert count(outbox, "select count(*) from public.analytics_events") == total
    assert killed_mid_work >= 1  # at least one kill interrupted work, which was then done again, once
    if window_ms == "0":
        assert count(outbox, "select coalesce(sum(lease_expiries), 0) from public.events") >= 1


@pytest.mark.timeout(120)
def test_after_pg_terminate_backend_it_reconnects_and_notify_wakes_it_again(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    port = free_port()
    # A poll interval of 10 minutes: anything processed within the test came from a NOTIFY wake-up.
    listener = listener_factory(database, "--poll-interval", "600", "--metrics-port", str(port),
                                handlers=("salesflow.handlers", "listener_test_handlers")).start()
    health_url = f"http://127.0.0.1:{port}/health"
    wait_until_sync(lambda: _healthy(health_url), timeout=30, every=0.1)

    slow = [emit(outbox, "test.slow", {"seconds": 0.3}) for _ in range(8)]
    wait_until_sync(lambda: statuses(outbox, slow).get("processing", 0) > 0, timeout=30, every=0.005)
    terminated = count(outbox, "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                               "where datname = current_database() and pid <> pg_backend_pid()")
    assert terminated >= 2  # the LISTEN connection and the pooled ones
    wait_until_sync(lambda: statuses(outbox, slow) == {"processed": 8}, timeout=60, every=0.05)
    wait_until_sync(lambda: get_json(health_url)["wakeup_reconnects"] >= 1
                    and get_json(health_url)["wakeup_connected"], timeout=30, every=0.1)

    after = emit(outbox, "message.sent", {"channel": "sms", "latency_ms": 12})
    wait_until_sync(lambda: statuses(outbox, [after]) == {"processed": 1}, timeout=30, every=0.02)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'salesflow_events_processed_total{type="message.sent"} 1.0' in metrics
    assert "salesflow_handler_duration_seconds_bucket" in metrics
    assert listener.terminate() == 0


def _healthy(url: str) -> bool:
    try:
        return bool(get_json(url)["wakeup_connected"])
    except OSError:
        return False


@pytest.mark.timeout(120)
def test_sigterm_lets_in_flight_handlers_finish_and_releases_what_cannot(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    listener = listener_factory(database, "--concurrency", "4", "--shutdown-timeout", "3",
                                handlers=("listener_test_handlers",)).start()
    quick = [emit(outbox, "test.slow", {"seconds": 1.0}) for _ in range(3)]
    stuck = emit(outbox, "test.slow", {"seconds": 60})
    wait_until_sync(lambda: statuses(outbox, [*quick, stuck]) == {"processing": 4}, timeout=30)
    assert listener.terminate(timeout=30) == 0

    assert statuses(outbox, quick) == {"processed": 3}
    row = outbox.execute("select status, attempts, locked_by from public.events where id = %s", (stuck,)).fetchone()
    assert row == ("pending", 0, None)  # released, the attempt not charged: the next listener runs it
    assert count(outbox, "select count(*) from public.events where status = 'processing'") == 0
    messages = [e["message"] for e in listener.logs()]
    assert "signal received: finishing in-flight handlers" in messages
    assert "released events whose handlers did not finish in time" in messages


def test_a_lost_database_at_start_is_retried_and_reported_unhealthy(
    listener_factory: Callable[..., Listener]
) -> None:
    missing = f"postgresql://postgres@127.0.0.1:5432/sf_missing_{uuid.uuid4().hex[:8]}"
    port = free_port()
    listener = listener_factory(missing, "--poll-interval", "0.2", "--metrics-port", str(port)).start()
    wait_until_sync(lambda: any(e.get("message") == "LISTEN connection lost; reconnecting" for e in listener.logs()),
                    timeout=30, every=0.1)

    def health_status() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                return response.status, dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(json.loads(exc.read()))
        except OSError:
            return 0, {}

    wait_until_sync(lambda: health_status()[0] == 503, timeout=30, every=0.1)
    code, health = health_status()
    assert code == 503
    assert health["status"] == "failing" and health["wakeup_connected"] is False
    assert "sf_missing_" in str(health["last_store_error"])
    assert listener.proc is not None and listener.proc.poll() is None  # still running, retrying
    assert listener.terminate() == 0


@pytest.mark.timeout(120)
def test_a_handler_that_succeeded_before_a_crash_is_not_run_again(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    eid = emit(outbox, "test.two_steps")
    first = listener_factory(database, "--lease", "2", handlers=("listener_test_handlers",)).start()
    wait_until_sync(lambda: count(outbox, "select count(*) from public.analytics_events where type = 'test.run'") == 1,
                    timeout=30)
    wait_until_sync(lambda: count(outbox, "select count(*) from public.event_deliveries where event_id = %s "
                                          "and status = 'succeeded'", eid) == 1, timeout=30)
    first.kill9()  # slow_followup is still running; the event is neither processed nor failed

    second = listener_factory(database, "--lease", "2", handlers=("listener_test_handlers",)).start()
    wait_until_sync(lambda: statuses(outbox, [eid]) == {"processed": 1}, timeout=60)
    assert second.terminate() == 0
    runs = outbox.execute("select handler from public.analytics_events where type = 'test.run'").fetchall()
    assert runs == [("send_message run 1",)]  # the retry after the crash skipped it
    row = outbox.execute("select attempts, lease_expiries from public.events where id = %s", (eid,)).fetchone()
    assert row == (2, 1)
