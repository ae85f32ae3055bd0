"""Bad lead input is refused with an error naming the column, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from salesflow.leads import OPEN_STATUSES
from tests.conftest import ACME, ANNA, member_claims

BAD_INPUT = [
    ({"name": "Ivy Invalid", "email": "not-an-email"}, "email", psycopg.errors.CheckViolation),
    ({"name": "Una Unknown", "status": "maybe"}, "status", psycopg.errors.CheckViolation),
    ({"name": "Scott Score", "score": 101}, "score", psycopg.errors.CheckViolation),
    ({"name": "Neg Score", "score": -1}, "score", psycopg.errors.CheckViolation),
    ({"name": "Pat Phone", "phone": "call me"}, "phone", psycopg.errors.CheckViolation),
    ({"name": "Chan Nel", "source_channel": "carrier_pigeon"}, "source_channel", psycopg.errors.CheckViolation),
    ({"name": "Tess Temp", "temperature": "lukewarm"}, "temperature", psycopg.errors.CheckViolation),
    ({"email": "nameless@example.de"}, "name", psycopg.errors.NotNullViolation),
    ({"name": "   "}, "name", psycopg.errors.CheckViolation),
    ({"name": "Julia Twin", "email": "Julia.Becker@Example.de"}, "email", psycopg.errors.UniqueViolation),
]


IDS = [f"{column}-{i}" for i, (_, column, _) in enumerate(BAD_INPUT)]


@pytest.mark.parametrize(("row", "column", "error"), BAD_INPUT, ids=IDS)
def test_bad_lead_input_is_refused_naming_the_column(
    db: psycopg.Connection[Any],
    as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]],
    row: dict[str, Any],
    column: str,
    error: type[Exception],
) -> None:
    before = db.execute("select (select count(*) from public.leads), (select count(*) from public.events)").fetchone()
    conn = as_claims(member_claims(ANNA, ACME))
    columns = ", ".join(row)
    placeholders = ", ".join(["%s"] * len(row))
    with pytest.raises(error) as refused:
        conn.execute(f"insert into public.leads ({columns}) values ({placeholders})", tuple(row.values()))
    diag = refused.value.diag  # type: ignore[attr-defined]
    named = " ".join(filter(None, [str(refused.value), diag.column_name, diag.constraint_name, diag.message_detail]))
    assert column in named, named
    db.rollback()
    after = db.execute("select (select count(*) from public.leads), (select count(*) from public.events)").fetchone()
    assert after == before, "a refused insert must leave no lead and no event behind"


def test_an_illegal_status_jump_names_both_statuses(
    db: psycopg.Connection[Any], as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]]
) -> None:
    conn = as_claims(member_claims(ANNA, ACME))
    with pytest.raises(psycopg.errors.CheckViolation,
                       match=r"leads\.status cannot move from new to proposal") as refused:
        conn.execute("update public.leads set status = 'proposal' where id = '10000000-0000-4000-8000-000000000001'")
    assert refused.value.diag.column_name == "status"
    db.rollback()
    row = db.execute("select status from public.leads where id = '10000000-0000-4000-8000-000000000001'").fetchone()
    assert row == ("new",)


@pytest.mark.parametrize("stage", OPEN_STATUSES)
def test_a_deal_closes_won_from_any_open_stage(
    stage: str, db: psycopg.Connection[Any], as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]]
) -> None:
    """A buyer who signs after the proposal (or on first contact) is won without fake stages in between."""
    conn = as_claims(member_claims(ANNA, ACME))
    [(lead_id,)] = conn.execute("insert into public.leads (name) values ('Signs early') returning id").fetchall()
    for step in OPEN_STATUSES[1:OPEN_STATUSES.index(stage) + 1]:
        conn.execute("update public.leads set status = %s where id = %s", (step, lead_id))
    conn.execute("update public.leads set status = 'won' where id = %s", (lead_id,))
    assert conn.execute("select status from public.leads where id = %s", (lead_id,)).fetchone() == ("won",)
    moves = conn.execute("select payload ->> 'from', payload ->> 'to' from public.events "
                         "where type = 'lead.status_changed' and ordering_key = %s order by seq",
                         (str(lead_id),)).fetchall()
    assert moves[-1] == (stage, "won")
