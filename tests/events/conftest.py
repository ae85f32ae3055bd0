"""Fixtures of the event engine tests (helpers live in engine_helpers.py)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from engine_helpers import listener_factory

__all__ = ["listener_factory", "outbox"]


@pytest.fixture
def outbox(db: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """The test database with the seed's events already processed, so each test sees only its own."""
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    return db
