"""The lead vocabulary is defined once: the Python mirror equals the database's constraints and rules."""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import psycopg

from salesflow import leads


def allowed_values(conn: psycopg.Connection[Any], constraint: str) -> set[str]:
    row = conn.execute(
        "select pg_get_constraintdef(oid) from pg_constraint where conname = %s", (constraint,)
    ).fetchone()
    assert row, constraint
    return set(re.findall(r"'([a-z_]+)'::text", row[0]))


def test_statuses_channels_and_temperatures_match_the_database(db: psycopg.Connection[Any]) -> None:
    assert allowed_values(db, "leads_status_allowed") == set(leads.LEAD_STATUSES)
    assert allowed_values(db, "leads_source_channel_allowed") == set(leads.SOURCE_CHANNELS)
    assert allowed_values(db, "leads_temperature_allowed") == set(leads.TEMPERATURES)


def test_status_transitions_match_the_database(db: psycopg.Connection[Any]) -> None:
    for old, new in product(leads.LEAD_STATUSES, repeat=2):
        in_db = db.execute("select private.lead_status_transition_allowed(%s, %s)", (old, new)).fetchone()
        assert in_db == (leads.status_change_allowed(old, new),), (old, new)
