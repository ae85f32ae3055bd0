"""`salesflow db`: the commands a developer runs, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg

from salesflow.db import migrations


def salesflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "salesflow.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


def test_migrate_then_status_then_reset(empty_database: str) -> None:
    first = salesflow("db", "migrate", "--database-url", empty_database, "--seed")
    assert first.returncode == 0, first.stderr
    assert "applied 20261125100000_tenancy.sql" in first.stdout
    again = salesflow("db", "migrate", "--database-url", empty_database)
    assert again.returncode == 0 and "0 migration(s) applied" in again.stdout
    status = salesflow("db", "status", "--database-url", empty_database, "--json")
    assert status.returncode == 0
    listed = json.loads(status.stdout)
    assert [(m["version"], m["state"]) for m in listed] == [(m.version, "applied") for m in migrations.discover()]
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("delete from public.leads where tenant_id = '11111111-1111-4111-8111-111111111111'")
        assert conn.execute("select count(*) from public.leads").fetchone() == (5,)
    reset = salesflow("db", "reset", "--database-url", empty_database, "--yes")
    assert reset.returncode == 0, reset.stderr
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("select count(*) from public.leads").fetchone() == (12,)


def test_a_malformed_database_url_exits_2() -> None:
    result = salesflow("db", "status", "--database-url", "localhost:5432")
    assert result.returncode == 2
    assert "--database-url" in result.stderr


def test_an_unreachable_database_is_reported_not_a_traceback() -> None:
    result = salesflow("db", "status", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 1
    assert "cannot connect" in result.stderr
    assert "Traceback" not in result.stderr
