"""Migrations: apply to an empty database, agree with the Supabase CLI, report edited files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from salesflow.db import migrations
from salesflow.settings import PROJECT_ROOT

SUPABASE_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "supabase"
SALESFLOW = shutil.which("salesflow") or str(Path(__file__).parents[2] / ".venv" / "bin" / "salesflow")


def cli_url(url: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    return (f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', 5432)}/{params['dbname']}?sslmode=disable")


def test_migrations_apply_to_an_empty_database(empty_database: str) -> None:
    with psycopg.connect(empty_database) as conn:
        assert migrations.bootstrap(conn) is True
        applied = migrations.migrate(conn)
        assert [m.version for m in applied] == [m.version for m in migrations.discover()]
        assert {s.state for s in migrations.status(conn)} == {"applied"}
        # Running again applies nothing and changes nothing.
        assert migrations.migrate(conn) == []
        tables = {r[0] for r in conn.execute(
            "select tablename from pg_tables where schemaname = 'public'").fetchall()}
        assert {"tenants", "tenant_members", "leads", "events", "event_deliveries"} <= tables
        no_rls = conn.execute(
            "select relname from pg_class where relnamespace = 'public'::regnamespace "
            "and relkind = 'r' and not relrowsecurity").fetchall()
        assert no_rls == [], f"tables without row-level security: {no_rls}"


def test_bootstrap_is_idempotent(empty_database: str) -> None:
    with psycopg.connect(empty_database) as conn:
        migrations.bootstrap(conn)
        migrations.bootstrap(conn)
        publications = conn.execute("select count(*) from pg_publication where pubname = 'supabase_realtime'")
        assert publications.fetchone() == (1,)
        bypass = conn.execute("select rolbypassrls from pg_roles where rolname = 'service_role'").fetchone()
        assert bypass == (True,)


def test_seed_is_idempotent(database: str) -> None:
    with psycopg.connect(database) as conn:
        before = conn.execute("select count(*) from public.leads").fetchone()
        migrations.seed(conn)
        assert conn.execute("select count(*) from public.leads").fetchone() == before == (12,)
        assert conn.execute("select count(*) from public.tenants").fetchone() == (2,)


def test_supabase_cli_applies_the_same_migrations_and_salesflow_agrees(empty_database: str) -> None:
    assert SUPABASE_CLI.exists(), "the pinned Supabase CLI is missing: ./scripts/setup runs npm ci"
    with psycopg.connect(empty_database) as conn:
        migrations.bootstrap(conn)
    up = subprocess.run([str(SUPABASE_CLI), "migration", "up", "--db-url", cli_url(empty_database)],
                        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    status = subprocess.run([SALESFLOW, "db", "status", "--database-url", empty_database],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "0 pending, 0 changed" in status.stdout
    # And the other way round: the CLI sees nothing left to apply after salesflow migrated.
    listing = subprocess.run([str(SUPABASE_CLI), "migration", "list", "--db-url", cli_url(empty_database)],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    for m in migrations.discover():
        assert listing.stdout.count(m.version) == 2, listing.stdout  # local and remote columns


def test_supabase_cli_takes_over_from_salesflow(database: str) -> None:
    up = subprocess.run([str(SUPABASE_CLI), "migration", "up", "--db-url", cli_url(database)],
                        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Applying migration" not in up.stdout + up.stderr


def test_supabase_db_lint_reports_no_error(database: str) -> None:
    lint = subprocess.run(
        [str(SUPABASE_CLI), "db", "lint", "--db-url", cli_url(database), "--fail-on", "error",
         "-s", "public,private"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "No schema errors found" in lint.stdout + lint.stderr


@pytest.fixture
def own_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder)
    return folder


def test_an_edited_migration_is_reported_not_skipped(empty_database: str, own_migrations: Path) -> None:
    with psycopg.connect(empty_database) as conn:
        migrations.bootstrap(conn)
        migrations.migrate(conn, own_migrations)
        leads = next(own_migrations.glob("*_leads.sql"))
        leads.write_text(leads.read_text() + "\ncomment on table public.leads is 'edited later';\n")
        states = {s.name: s.state for s in migrations.status(conn, own_migrations)}
        assert states["leads"] == "changed"
        with pytest.raises(migrations.MigrationError, match=r"leads\.sql"):
            migrations.migrate(conn, own_migrations)


def test_a_failing_migration_names_its_file_and_leaves_nothing_behind(
    empty_database: str, own_migrations: Path
) -> None:
    (own_migrations / "20991231000000_broken.sql").write_text(
        "create table public.half_done (id int);\nselect no_such_function();\n")
    with psycopg.connect(empty_database) as conn:
        migrations.bootstrap(conn)
        with pytest.raises(migrations.MigrationError, match=r"20991231000000_broken\.sql"):
            migrations.migrate(conn, own_migrations)
        conn.rollback()
        assert conn.execute("select to_regclass('public.half_done')").fetchone() == (None,)
        states = {s.name: s.state for s in migrations.status(conn, own_migrations)}
        assert states["broken"] == "pending"
        assert states["leads"] == "applied"


def test_a_badly_named_migration_file_is_refused(own_migrations: Path) -> None:
    (own_migrations / "leads_v2.sql").write_text("select 1;")
    with pytest.raises(migrations.MigrationError, match=r"<timestamp>_<what>\.sql"):
        migrations.discover(own_migrations)
