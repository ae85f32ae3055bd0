"""Who sees and changes what, as PostgREST runs each request (role + JWT claims): tenant B sees none of A's
alerts, rules or targets; a member reads alerts and rules but changes neither; anon gets nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.alerts.conftest import evaluate, fail_event
from tests.conftest import ACME, ANNA, BEA, BEN, NORDLICHT, member_claims

Conn = psycopg.Connection[Any]
AsClaims = Callable[[dict[str, Any]], Conn]


@pytest.fixture
def firing(quiet_db: Conn) -> Conn:
    quiet_db.execute("insert into public.notification_targets (tenant_id, name, kind, url)"
                     " values (%s, 'ops', 'webhook', 'https://hooks.example/a')", (ACME,))
    quiet_db.commit()
    fail_event(quiet_db)
    evaluate(quiet_db)
    return quiet_db


def count(conn: Conn, table: str) -> int:
    row = conn.execute(f"select count(*) from public.{table}").fetchone()
    assert row is not None
    return int(row[0])


def test_tenant_b_sees_none_of_as_alerts_rules_or_targets(firing: Conn, as_claims: AsClaims) -> None:
    bea = as_claims(member_claims(BEA, NORDLICHT))
    assert count(bea, "alerts") == 0
    assert count(bea, "alert_notifications") == 0
    assert count(bea, "notification_targets") == 0
    row = bea.execute("select count(*) from public.alert_rules where tenant_id = %s", (ACME,)).fetchone()
    assert row == (0,)
    anna = as_claims(member_claims(ANNA, ACME))
    assert count(anna, "alerts") == 1 and count(anna, "notification_targets") == 1


def test_a_member_reads_alerts_but_cannot_edit_rules(firing: Conn, as_claims: AsClaims) -> None:
    ben = as_claims(member_claims(BEN, ACME))
    assert count(ben, "alerts") == 1
    assert count(ben, "alert_rules") == 8
    assert ben.execute("update public.alert_rules set enabled = false returning id").fetchall() == []
    assert count(ben, "notification_targets") == 0  # a Slack webhook URL is a secret of its own
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        ben.execute("select public.evaluate_alerts('ben', 0)")


def test_an_owner_manages_rules(firing: Conn, as_claims: AsClaims) -> None:
    anna = as_claims(member_claims(ANNA, ACME))
    assert len(anna.execute("update public.alert_rules set threshold = 5 where name = 'failed_events'"
                            " returning id").fetchall()) == 1
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"alert_rules\.metric: unknown metric 'cpu'"):
        anna.execute("insert into public.alert_rules (name, metric, threshold) values ('x', 'cpu', 1)")


def test_anon_gets_nothing(firing: Conn, as_claims: AsClaims) -> None:
    anon = as_claims({"role": "anon"})
    for table in ("alerts", "alert_rules", "notification_targets", "alert_notifications"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            anon.execute(f"select count(*) from public.{table}")
        anon.rollback()
        anon = as_claims({"role": "anon"})
