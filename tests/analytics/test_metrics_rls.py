"""The sales metrics under RLS, as PostgREST runs them (the member's role and claims): a member of tenant B gets
nothing of tenant A, asking for A by id is refused, anon gets an error; members read the stage probabilities,
only owners and admins change them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.analytics.history import Lead, Touch, write
from tests.conftest import ACME, ANNA, BEA, BEN, NORDLICHT, member_claims

Conn = psycopg.Connection[Any]
AsClaims = Callable[[dict[str, Any]], Conn]
DAY = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def histories(analytics_database: str) -> None:
    with psycopg.connect(analytics_database) as conn:
        write(conn, ACME, [Lead(created_at=DAY, touches=[Touch("email", "out", "autopilot", DAY, ai_cost=0.1),
                                                         Touch("email", "in", "lead", DAY.replace(hour=10))],
                                won=(DAY.replace(day=5), 7777.0, "EUR"))])
        write(conn, NORDLICHT, [Lead(created_at=DAY, touches=[Touch("sms", "out", "human", DAY)],
                                     won=(DAY.replace(day=6), 300.0, "EUR"))])
        conn.commit()


def numbers(value: Any) -> Any:
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def metrics(conn: Conn, tenant: str | None = None) -> dict[str, Any]:
    row = conn.execute("select public.analytics_metrics('2026-06-01', '2026-06-30', null, %s)", (tenant,)).fetchone()
    assert row is not None
    return dict(row[0])


def test_a_member_of_b_gets_nothing_of_a(histories: None, as_claims: AsClaims) -> None:
    bea = as_claims(member_claims(BEA, NORDLICHT))
    m = metrics(bea)
    assert 7777 not in list(numbers(m))
    assert (m["win_rate"]["won"], m["win_rate"]["value"]) == (1, {"EUR": {"won": 300, "lost": 0, "rate": 1.0}})
    assert [(r["channel"], r["direction"]) for r in m["messages_by_channel"]] == [("sms", "out")]
    assert m["speed_to_lead"]["leads"] == 1
    assert m["ai_roi"]["won_deals"] == 1


def test_a_member_of_a_sees_a(histories: None, as_claims: AsClaims) -> None:
    ben = as_claims(member_claims(BEN, ACME))
    m = metrics(ben)
    assert m["win_rate"]["value"]["EUR"]["won"] == 7777
    assert m["reply_rate"]["replied"] == 1


def test_asking_for_a_by_id_is_refused(histories: None, as_claims: AsClaims) -> None:
    bea = as_claims(member_claims(BEA, NORDLICHT))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only report on the tenant you are signed in to"):
        metrics(bea, ACME)


def test_anon_gets_an_error(histories: None, as_claims: AsClaims) -> None:
    anon = as_claims({"role": "anon"})
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        metrics(anon)


def test_anon_cannot_read_the_probabilities(as_claims: AsClaims) -> None:
    anon = as_claims({"role": "anon"})
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        anon.execute("select * from public.analytics_stage_probabilities")


def test_members_read_only_their_tenants_probabilities(as_claims: AsClaims) -> None:
    bea = as_claims(member_claims(BEA, NORDLICHT))
    tenants = bea.execute("select distinct tenant_id::text from public.analytics_stage_probabilities").fetchall()
    assert tenants == [(NORDLICHT,)]


def test_owners_change_the_probabilities_members_cannot(as_claims: AsClaims) -> None:
    ben = as_claims(member_claims(BEN, ACME))
    changed = ben.execute("update public.analytics_stage_probabilities set probability = 0.9 "
                          "where status = 'proposal'").rowcount
    assert changed == 0, "a member's update matches no row"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        ben.execute("insert into public.analytics_stage_probabilities (status, probability) values ('new', 0.2)")

    anna = as_claims(member_claims(ANNA, ACME))
    assert anna.execute("update public.analytics_stage_probabilities set probability = 0.6 "
                        "where status = 'proposal'").rowcount == 1
    # an owner of B cannot reach A's rows
    bea = as_claims(member_claims(BEA, NORDLICHT))
    assert bea.execute("update public.analytics_stage_probabilities set probability = 0.1 "
                       "where tenant_id = %s", (ACME,)).rowcount == 0
