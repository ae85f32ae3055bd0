"""The write path of one message (supabase/migrations/20261203200000_analytics_write_fast_path.sql): a statement
inserting one touchpoint, or changing one journey, takes a fast path of neighbour probes and key-by-key bumps.
Whatever order the touches arrive in, duplicated or deleted, the rollups equal a fresh recomputation and the
journeys equal the stage rules, exactly as on the general path of a batch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.history import new_tenant, rollups

Conn = psycopg.Connection[Any]
BASE = datetime(2026, 6, 1, 21, 30, tzinfo=UTC)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])

# (lead 0|1, direction/actor, minutes after BASE (few values: ties at one instant), auto-reply, in a step)
touch = st.tuples(st.integers(0, 1),
                  st.sampled_from([("in", "lead"), ("out", "human"), ("out", "sequence"), ("out", "autopilot")]),
                  st.sampled_from([0, 0, 5, 90, 150, 1440, 2000]), st.booleans(), st.booleans())
# an operation: insert a new touch | insert again (the same message) | delete the k-th touch written so far
operation = st.one_of(st.tuples(st.just("insert"), touch), st.tuples(st.just("again"), st.integers(0, 30)),
                      st.tuples(st.just("delete"), st.integers(0, 30)))


def journeys(db: Conn, tenant: str) -> list[tuple[Any, ...]]:
    cols = ("lead_id, lead_created, lead_qualified, first_contact, first_response, engaged, meeting_scheduled, "
            "meeting_completed, proposal_sent, negotiation, deal_closed_won, lost, churned, won_value, won_currency")
    kept = db.execute(f"select {cols} from public.analytics_lead_journeys where tenant_id = %s order by 1",
                      (tenant,)).fetchall()
    # the journeys kept (a lead has one from its first fact on) are those the stage rules give now
    fresh = db.execute(f"select {cols} from private.analytics_journeys_of(%s, %s) order by 1",
                       (tenant, [k[0] for k in kept])).fetchall()
    assert kept == fresh
    touched = db.execute("select count(distinct lead_id) from public.analytics_touchpoints t where tenant_id = %s and "
                         "not exists (select 1 from public.analytics_lead_journeys j where j.lead_id = t.lead_id)",
                         (tenant,)).fetchone()
    assert touched == (0,)
    return kept


def setup(db: Conn, zone: str) -> tuple[str, list[tuple[str, str]]]:
    tenant = new_tenant(db, timezone=zone)
    leads = []
    for i in range(2):
        lead = str(uuid.uuid4())
        db.execute("insert into public.leads (id, tenant_id, name, created_at) values (%s, %s, %s, %s)",
                   (lead, tenant, f"Lead {i}", BASE - timedelta(days=1)))
        conversation = db.execute("insert into public.conversations (tenant_id, lead_id, channel) "
                                  "values (%s, %s, 'email') returning id", (tenant, lead)).fetchone()[0]  # type: ignore[index]
        leads.append((lead, str(conversation)))
    return tenant, leads


def insert_one(db: Conn, tenant: str, lead: tuple[str, str], t: tuple[Any, ...], step: str) -> dict[str, Any]:
    _, (direction, actor), minutes, auto, in_step = t
    message = str(uuid.uuid4())
    at = BASE + timedelta(minutes=minutes)
    if direction == "in":
        # the auto-reply flag comes from the message (private.is_auto_reply)
        db.execute("insert into public.messages (id, tenant_id, conversation_id, direction, body, received_at) "
                   "values (%s, %s, %s, 'in', %s, %s)",
                   (message, tenant, lead[1], "Out of office until Monday" if auto else "Sounds good", at))
    row = {"tenant_id": tenant, "lead_id": lead[0], "message_id": message, "channel": "email",
           "direction": direction, "actor": actor, "occurred_at": at,
           "step_id": step if direction == "out" and in_step else None}
    db.execute("insert into public.analytics_touchpoints (tenant_id, lead_id, message_id, channel, direction, actor, "
               "step_id, occurred_at, handler) values (%(tenant_id)s, %(lead_id)s, %(message_id)s, %(channel)s, "
               "%(direction)s, %(actor)s, %(step_id)s, %(occurred_at)s, 'test') on conflict (message_id) do nothing",
               row)
    return row


def again(db: Conn, row: dict[str, Any]) -> None:
    db.execute("insert into public.analytics_touchpoints (tenant_id, lead_id, message_id, channel, direction, actor, "
               "step_id, occurred_at, handler) values (%(tenant_id)s, %(lead_id)s, %(message_id)s, %(channel)s, "
               "%(direction)s, %(actor)s, %(step_id)s, %(occurred_at)s, 'test') on conflict (message_id) do nothing",
               row)


@SETTINGS
@given(ops=st.lists(operation, min_size=1, max_size=14), zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Tokyo"]))
def test_single_touch_writes_keep_rollups_equal_to_recomputation(db: Conn, ops: list[tuple[str, Any]],
                                                                  zone: str) -> None:
    try:
        tenant, leads = setup(db, zone)
        step = str(uuid.uuid4())
        written: list[dict[str, Any]] = []
        for kind, arg in ops:
            if kind == "insert":
                written.append(insert_one(db, tenant, leads[arg[0]], arg, step))
            elif kind == "again" and written:
                again(db, written[arg % len(written)])
            elif kind == "delete" and written:
                db.execute("delete from public.analytics_touchpoints where message_id = %s",
                           (written[arg % len(written)]["message_id"],))
            assert rollups(db, tenant) == rollups(db, tenant, recomputed=True), (kind, arg)
            journeys(db, tenant)
    finally:
        db.rollback()


@SETTINGS
@given(touches=st.lists(touch, min_size=1, max_size=10), order=st.randoms(use_true_random=False))
def test_one_at_a_time_in_any_order_gives_the_rollups_of_one_batch(db: Conn, touches: list[tuple[Any, ...]],
                                                                   order: Any) -> None:
    try:
        tenant, leads = setup(db, "Europe/Berlin")
        step = str(uuid.uuid4())
        rows = [insert_one(db, tenant, leads[t[0]], t, step) for t in touches]
        one_by_one = rollups(db, tenant)
        kept = journeys(db, tenant)
        assert one_by_one == rollups(db, tenant, recomputed=True)
        # the same touches again, as one statement (the general path), after deleting them all in one statement
        db.execute("delete from public.analytics_touchpoints where tenant_id = %s", (tenant,))
        order.shuffle(rows)
        db.execute(
            "insert into public.analytics_touchpoints (tenant_id, lead_id, message_id, channel, direction, actor, "
            "step_id, occurred_at, handler) select r.tenant_id, r.lead_id, r.message_id, "
            "r.channel::public.message_channel, r.direction, r.actor, r.step_id, r.occurred_at, 'test' "
            "from jsonb_to_recordset(%s::jsonb) as r(tenant_id uuid, lead_id uuid, message_id uuid, channel text, "
            "direction text, actor text, step_id uuid, occurred_at timestamptz)",
            (json.dumps(rows, default=str),))
        assert rollups(db, tenant) == one_by_one
        assert journeys(db, tenant) == kept
        # and removed again one at a time, in another order: nothing of them is left in the rollups
        order.shuffle(rows)
        for r in rows:
            db.execute("delete from public.analytics_touchpoints where message_id = %s", (r["message_id"],))
            assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
        touch_kinds = ("touchpoints", "replies", "step_sends", "auto_replies")
        assert [r for r in rollups(db, tenant) if r[1] in touch_kinds] == []
    finally:
        db.rollback()
