"""Fixtures of the analytics tests: one migrated database per module (each test writes its own tenant and
rolls back), migrated straight from supabase/migrations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from salesflow.db import migrations
from tests.conftest import _create_database, _drop_database


@pytest.fixture(scope="module")
def analytics_database() -> Iterator[str]:
    url = _create_database("sf_test_analytics")
    try:
        migrations.prepare(url)
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
def db(analytics_database: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection whose transaction is rolled back after the test."""
    with psycopg.connect(analytics_database) as conn:
        try:
            yield conn
        finally:
            conn.rollback()
