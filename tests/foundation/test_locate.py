"""Where Postgres comes from: DATABASE_URL, else the local server, else an embedded one."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from salesflow.db import migrations
from salesflow.db.locate import locate
from salesflow.settings import load_settings


def test_database_url_wins(tmp_path: Path) -> None:
    cfg = load_settings(env={"DATABASE_URL": "postgresql://someone@db.example:5432/app"}, env_file=tmp_path / "x")
    loc = locate(cfg)
    assert loc.origin == "DATABASE_URL"
    assert loc.url == "postgresql://someone@db.example:5432/app"


def test_the_local_server_is_used_when_it_answers(tmp_path: Path) -> None:
    loc = locate(load_settings(env={}, env_file=tmp_path / "x"))
    assert loc.origin == "local server"
    assert loc.describe().endswith("/salesflow (from local server)")


def test_an_embedded_postgres_is_started_when_nothing_answers(tmp_path: Path) -> None:
    pytest.importorskip("pgserver", reason="the embedded Postgres is the `embedded` extra")
    data_dir = tmp_path / "pgdata"
    cfg = load_settings(env={"SALESFLOW_EMBEDDED_DIR": str(data_dir)}, env_file=tmp_path / "x")
    loc = locate(cfg, local_server="postgresql://postgres@127.0.0.1:1/postgres")
    assert loc.origin == "embedded"
    try:
        migrations.prepare(loc.url)
        with psycopg.connect(loc.url) as conn:
            assert conn.execute("select count(*) from public.leads").fetchone() == (12,)
            assert {s.state for s in migrations.status(conn)} == {"applied"}
        assert (data_dir / "PG_VERSION").exists(), "the embedded data lives in the configured folder"
    finally:
        import pgserver  # type: ignore[import-not-found]

        # The product leaves the embedded server running between commands; the test stops it.
        # As root, pgserver runs the server as its own system user `pgserver`.
        user = "pgserver" if os.geteuid() == 0 else None
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
