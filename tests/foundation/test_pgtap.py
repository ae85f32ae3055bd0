"""Runs the pgTAP security and trigger promises in supabase/tests with pg_prove on a fresh database.

`supabase test db` needs Docker; without it the same files run with Debian's pg_prove once the database's
search_path includes the schema pgTAP is installed in (reference/supabase-wire.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from salesflow.settings import PROJECT_ROOT

PGTAP_FILES = sorted((PROJECT_ROOT / "supabase" / "tests").glob("*.sql"))


def test_there_are_pgtap_files() -> None:
    assert len(PGTAP_FILES) >= 5


@pytest.mark.parametrize("path", PGTAP_FILES, ids=lambda p: p.name)
def test_pgtap_file_passes(path: Path, database: str) -> None:
    assert shutil.which("pg_prove"), "pg_prove is missing: ./scripts/setup installs postgresql-15-pgtap"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("create extension if not exists pgtap schema extensions")
        dbname = conn.info.dbname
        conn.execute(
            sql.SQL('alter database {} set search_path = "$user", public, extensions').format(sql.Identifier(dbname))
        )
    params = psycopg.conninfo.conninfo_to_dict(database)
    result = subprocess.run(
        ["pg_prove", "--verbose", "-h", str(params.get("host", "127.0.0.1")), "-p", str(params.get("port", 5432)),
         "-U", str(params.get("user", "postgres")), "-d", str(params["dbname"]), str(path)],
        capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "not ok" not in output, output
    assert "All tests successful" in output, output
