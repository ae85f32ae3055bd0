"""Shared fixtures: every test session gets fresh databases on the real Postgres server.

The server is TEST_POSTGRES_URL (default: the local one at 127.0.0.1:5432). Databases are named
`sf_test_<random>` and dropped afterwards, so parallel runs never share state.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
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


# Migrating a database takes ~1 s and hundreds of tests need a fresh one, so the suite migrates once into a
# template database named by a hash of everything that shapes it, and copies that per test (~50 ms). The
# copy is the same bytes `migrations.prepare` wrote; tests of migrating itself use `empty_database`.
_TEMPLATE_LOCK = 0x5F7E3A11  # advisory lock: building or dropping templates (exclusive) vs copying (shared)


def _template_name(seed: bool) -> str:
    digest = hashlib.sha256()
    # The very files `migrations.prepare` reads (found from the imported package, which may be another
    # checkout than this tests folder's), so a template's name always matches its content.
    sources = [*sorted(migrations.MIGRATIONS_DIR.glob("*.sql")), migrations.BOOTSTRAP_FILE, migrations.SEED_FILE]
    sources += sorted(Path(migrations.__file__).parent.glob("*.py"))
    for path in sources:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sf_tpl_{digest.hexdigest()[:16]}_{'seeded' if seed else 'bare'}"


def _template_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    found = conn.execute("select 1 from pg_database where datname = %s and datistemplate", (name,)).fetchone()
    return found is not None


def _build_template(conn: psycopg.Connection[Any], name: str, seed: bool) -> None:
    """Under the exclusive lock: migrate a scratch database, then rename it into place and mark it a template,
    so a crash mid-way never leaves a half-migrated template behind. Templates built over an hour ago for
    other migration sets are dropped (never newer ones: two checkouts testing at once would evict each
    other's; no copy is running meanwhile, copies hold the shared lock)."""
    for (stale,) in conn.execute(
        "select d.datname from pg_database d where d.datistemplate and d.datname like 'sf\\_tpl\\_%%'"
        " and d.datname <> %s and coalesce(shobj_description(d.oid, 'pg_database'), '0')::float8"
        " < extract(epoch from now()) - 3600",
        (name,),
    ).fetchall():
        conn.execute(sql.SQL("alter database {} is_template false").format(sql.Identifier(stale)))
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(stale)))
    scratch = f"sf_tplbuild_{uuid.uuid4().hex[:12]}"
    conn.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
    try:
        migrations.prepare(with_database(SERVER_URL, scratch), with_seed=seed)
        conn.execute(sql.SQL("alter database {} rename to {}").format(sql.Identifier(scratch), sql.Identifier(name)))
        conn.execute(sql.SQL("alter database {} is_template true").format(sql.Identifier(name)))
        built_at = conn.execute("select extract(epoch from now())::text").fetchone()
        assert built_at is not None
        conn.execute(sql.SQL("comment on database {} is {}").format(sql.Identifier(name), sql.Literal(built_at[0])))
    except BaseException:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))
        raise


def _create_migrated_database(seed: bool = True, prefix: str = "sf_test") -> str:
    """A fresh database in the state `migrations.prepare(url, with_seed=seed)` leaves, copied from a template."""
    template = _template_name(seed)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        while True:
            conn.execute("select pg_advisory_lock_shared(%s)", (_TEMPLATE_LOCK,))
            try:
                if _template_exists(conn, template):
                    conn.execute(sql.SQL("create database {} template {}").format(
                        sql.Identifier(name), sql.Identifier(template)))
                    return with_database(SERVER_URL, name)
            finally:
                conn.execute("select pg_advisory_unlock_shared(%s)", (_TEMPLATE_LOCK,))
            conn.execute("select pg_advisory_lock(%s)", (_TEMPLATE_LOCK,))
            try:
                if not _template_exists(conn, template):
                    _build_template(conn, template, seed)
            finally:
                conn.execute("select pg_advisory_unlock(%s)", (_TEMPLATE_LOCK,))


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
        url = _create_migrated_database(seed)
        made.append(url)
        return url

    try:
        yield make
    finally:
        for url in made:
            _drop_database(url)


@pytest.fixture(scope="session")
def session_database() -> Iterator[str]:
    """One migrated and seeded database shared by a session's read-mostly tests."""
    url = _create_migrated_database()
    try:
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
