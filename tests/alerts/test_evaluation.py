"""What one evaluation decides, called as the listener calls it (public.evaluate_alerts): a still-firing alert is
seen again without a second notification inside the cooldown, a flapping condition is not re-sent, a clear
condition resolves (and the resolve is queued where the firing went), each metric fires on its own data."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from tests.alerts.conftest import add_webhook_target, alerts, evaluate, fail_event, notifications
from tests.conftest import ACME, NORDLICHT

Conn = psycopg.Connection[Any]


def test_cooldown_keeps_one_notification_while_firing_and_after_a_flap(quiet_db: Conn) -> None:
    db = quiet_db
    add_webhook_target(db, "http://127.0.0.1:9/unused")
    first = fail_event(db)
    assert evaluate(db)["fired"] == 1
    second = fail_event(db)
    again = evaluate(db)
    assert (again["fired"], again["updated"], again["queued"]) == (0, 1, 0)
    [alert] = [a for a in alerts(db) if a["metric"] == "failed_events"]
    assert alert["count"] == 2 and {str(i) for i in alert["event_ids"]} == {first, second}
    assert [n["transition"] for n in notifications(db)] == ["firing"]

    # Clears: resolved, and the resolve goes where the firing went.
    db.execute("update public.events set status = 'processed', failed_at = null where status = 'failed'")
    db.commit()
    assert evaluate(db)["resolved"] == 1
    assert [n["transition"] for n in notifications(db)] == ["firing", "resolved"]

    # Fires again inside the cooldown (1 h by default): a new alert row, no new firing notification.
    fail_event(db)
    assert evaluate(db)["fired"] == 1
    assert [a["status"] for a in alerts(db) if a["metric"] == "failed_events"] == ["resolved", "firing"]
    assert [n["transition"] for n in notifications(db)] == ["firing", "resolved"]

    # Past the cooldown a still-firing alert is sent again (a reminder).
    db.execute("update public.alert_rules set cooldown_seconds = 1 where tenant_id = %s and name = 'failed_events'",
               (ACME,))
    db.commit()
    time.sleep(1.1)
    assert evaluate(db)["queued"] == 1
    assert [n["transition"] for n in notifications(db)] == ["firing", "resolved", "firing"]


def test_a_disabled_rule_resolves_its_alert_and_other_tenants_are_untouched(quiet_db: Conn) -> None:
    db = quiet_db
    fail_event(db)
    evaluate(db)
    assert alerts(db, NORDLICHT) == []
    db.execute("update public.alert_rules set enabled = false where tenant_id = %s and name = 'failed_events'", (ACME,))
    db.commit()
    evaluate(db)
    assert [a["status"] for a in alerts(db)] == ["resolved"]


def test_a_threshold_above_the_count_does_not_fire(quiet_db: Conn) -> None:
    db = quiet_db
    db.execute("update public.alert_rules set threshold = 3 where name = 'failed_events'")
    db.commit()
    fail_event(db)
    fail_event(db)
    evaluate(db)
    assert alerts(db) == []
    fail_event(db)
    evaluate(db)
    assert [a["metric"] for a in alerts(db)] == ["failed_events"]


def test_a_listener_that_stops_beating_alerts_and_a_clean_stop_does_not(quiet_db: Conn) -> None:
    db = quiet_db
    db.execute("update public.alert_rules set threshold = 1 where name = 'listener_heartbeat_missing'")
    db.execute("select public.listener_heartbeat('host:1:crashed')")
    db.execute("select public.listener_heartbeat('host:2:stopped', true)")
    db.commit()
    time.sleep(1.2)
    evaluate(db)
    missing = [a for a in alerts(db) if a["metric"] == "listener_heartbeat_missing"]
    assert [a["dedup_key"] for a in missing] == ["listener_heartbeat_missing:host:1:crashed"]
    assert missing[0]["severity"] == "critical"
    # It beats again: resolved.
    db.execute("select public.listener_heartbeat('host:1:crashed')")
    db.commit()
    evaluate(db)
    assert [a["status"] for a in alerts(db) if a["metric"] == "listener_heartbeat_missing"] == ["resolved"]


def test_handler_failure_rate_per_handler_with_a_minimum_count(quiet_db: Conn) -> None:
    db = quiet_db
    db.execute("update public.alert_rules set threshold = 0.5, min_count = 4 where name = 'handler_failure_rate'")

    def deliveries(handler: str, failed: int, succeeded: int) -> None:
        for i in range(failed + succeeded):
            row = db.execute("select private.emit_event(%s, 'test.alert_ok', '{}'::jsonb)", (ACME,)).fetchone()
            assert row is not None
            db.execute("insert into public.event_deliveries (event_id, handler, tenant_id, status, attempts)"
                       " values (%s, %s, %s, %s, 1)", (row[0], handler, ACME, "failed" if i < failed else "succeeded"))
    deliveries("crm.sync", 3, 1)      # 75 % of 4: fires
    deliveries("mail.send", 1, 0)     # 100 % but only 1 delivery: below min_count
    deliveries("score.lead", 1, 4)    # 20 %: below the threshold
    db.execute("update public.events set status = 'processed' where status = 'pending'")
    db.commit()
    evaluate(db)
    rates = [a for a in alerts(db) if a["metric"] == "handler_failure_rate"]
    assert [a["dedup_key"] for a in rates] == ["handler_failure_rate:crm.sync"]
    assert len(rates[0]["event_ids"]) == 3


def test_ai_budget_at_80_and_100_percent(quiet_db: Conn) -> None:
    db = quiet_db
    db.execute("insert into public.ai_budgets (tenant_id, scenario, monthly_limit_usd) values (%s, null, 10)"
               " on conflict (tenant_id, scenario) do update set monthly_limit_usd = 10", (ACME,))
    db.execute("insert into public.ai_budget_periods (tenant_id, scenario, period, spent_usd)"
               " values (%s, null, date_trunc('month', now() at time zone 'UTC')::date, 8.5)"
               " on conflict (tenant_id, scenario, period) do update set spent_usd = 8.5", (ACME,))
    db.commit()
    evaluate(db)
    assert [a["dedup_key"].split(":")[0] for a in alerts(db) if a["metric"] == "ai_budget"] == ["ai_budget_80"]
    db.execute("update public.ai_budget_periods set spent_usd = 10 where tenant_id = %s and scenario is null", (ACME,))
    db.commit()
    evaluate(db)
    firing = sorted(a["dedup_key"].split(":")[0] for a in alerts(db) if a["metric"] == "ai_budget")
    assert firing == ["ai_budget_100", "ai_budget_80"]


def test_only_one_evaluator_at_a_time(quiet_db: Conn, database: str) -> None:
    db = quiet_db
    with psycopg.connect(database) as holder:
        holder.execute("select pg_advisory_xact_lock(hashtext('salesflow.evaluate_alerts'))")
        busy = evaluate(db, "second-listener")
        assert busy["evaluated"] is False and busy["reason"] == "another listener is evaluating"
    assert evaluate(db)["evaluated"] is True
    # Inside the interval a second round is skipped.
    row = db.execute("select public.evaluate_alerts('third', 60)").fetchone()
    db.commit()
    assert row is not None and row[0]["evaluated"] is False and row[0]["reason"] == "evaluated recently"


def test_resolved_alerts_are_kept_90_days(quiet_db: Conn) -> None:
    db = quiet_db
    fail_event(db)
    evaluate(db)
    db.execute("update public.events set status = 'processed', failed_at = null where status = 'failed'")
    db.commit()
    evaluate(db)
    db.execute("update public.alerts set first_seen_at = now() - interval '100 days',"
               " resolved_at = now() - interval '91 days'")
    db.commit()
    fail_event(db)
    evaluate(db)
    assert [a["status"] for a in alerts(db)] == ["firing"]
