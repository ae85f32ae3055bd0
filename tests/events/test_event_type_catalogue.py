"""The event type list exists once in SQL and once in Python; they must never drift apart."""

from __future__ import annotations

import psycopg

from salesflow.events.types import EVENT_TYPES, TYPE_NAME


def test_python_catalogue_equals_the_event_types_table(session_database: str) -> None:
    with psycopg.connect(session_database) as conn:
        rows = dict(conn.execute("select name, description from public.event_types").fetchall())
    assert rows == EVENT_TYPES


def test_every_type_name_follows_the_dotted_naming_rule() -> None:
    assert all(TYPE_NAME.match(name) for name in EVENT_TYPES)
