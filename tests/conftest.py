"""Shared fixtures: every test session gets fresh databases on the real Postgres server.

The server is TEST_POSTGRES_URL (default: the local one at 127.0.0.1:5432). Databases are named
`sf_test_<random>` and dropped afterwards, so parallel runs never share state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from salesflow.db import migrations
from salesflow.db.claims import act_as
from salesflow.db.locate import with_database

SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"
ANNA = "a0000000-0000-4000-8000-000000000001"  # owner of Acme
BEN = "a0000000-0000-4000-8000-000000000002"  # member of Acme
BEA = "b0000000-0000-4000-8000-000000000001"  # owner of Nordlicht
MAX = "c0000000-0000-4000-8000-000000000001"  # member of both, app_metadata picks Nordlicht
NOMAD = "d0000000-0000-4000-8000-000000000001"  # no membership


def member_claims(user_id: str, tenant_id: str | None, role: str = "authenticated") -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": user_id, "role": role, "aud": "authenticated"}
    if tenant_id:
        claims["tenant_id"] = tenant_id
    return claims


def _create_database(prefix: str = "sf_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(SERVER_URL, name)


def _drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(str(name))))


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A brand-new empty database (no bootstrap, no migrations); dropped afterwards."""
    url = _create_database()
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
def database_factory() -> Iterator[Callable[[], str]]:
    """Make fresh, migrated and seeded databases on demand; all dropped afterwards."""
    made: list[str] = []

    def make(seed: bool = True) -> str:
        url = _create_database()
        made.append(url)
        migrations.prepare(url, with_seed=seed)
        return url

    try:
        yield make
    finally:
        for url in made:
            _drop_database(url)


@pytest.fixture(scope="session")
def session_database() -> Iterator[str]:
    """One migrated and seeded database shared by a session's read-mostly tests."""
    url = _create_database()
    try:
        migrations.prepare(url)
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
def database(database_factory: Callable[..., str]) -> str:
    """A fresh migrated and seeded database for one test."""
    return database_factory()


@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection to the test's fresh database."""
    with psycopg.connect(database) as conn:
        yield conn


@pytest.fixture
def as_claims(db: psycopg.Connection[Any]) -> Callable[[dict[str, Any]], psycopg.Connection[Any]]:
    """Switch `db`'s current transaction to a JWT's role and claims, as PostgREST would."""

    def switch(claims: dict[str, Any]) -> psycopg.Connection[Any]:
        db.rollback()
        act_as(db, claims)
        return db

    return switch
