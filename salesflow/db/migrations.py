"""Apply `supabase/migrations` and record them exactly as the Supabase CLI does.

Applied migrations live in `supabase_migrations.schema_migrations(version, statements, name)`, `version`
being the file name's leading timestamp. Because both tools read and write the same rows, either can take
over from the other. A file changed after it was applied is reported as `changed`, never silently skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
import sqlparse

from salesflow.settings import PROJECT_ROOT

SUPABASE_DIR = PROJECT_ROOT / "supabase"
MIGRATIONS_DIR = SUPABASE_DIR / "migrations"
SEED_FILE = SUPABASE_DIR / "seed.sql"
BOOTSTRAP_FILE = Path(__file__).with_name("bootstrap.sql")

_FILE_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>.+)\.sql$")

HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


class MigrationError(RuntimeError):
    """A migration failed or the history disagrees with the files; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def statements(self) -> list[str]:
        return split_statements(self.path.read_text())


@dataclass(frozen=True)
class MigrationState:
    version: str
    name: str
    state: Literal["applied", "pending", "changed", "missing file"]


def split_statements(text: str) -> list[str]:
    """Split SQL into statements (dollar quotes and comments respected), as the CLI stores them."""
    return [s.strip().rstrip(";").strip() for s in sqlparse.split(text) if s.strip().rstrip(";").strip()]


def _fingerprint(statements: Iterable[str]) -> str:
    # The CLI and this tool may split or trim differently; what must agree is the SQL itself.
    joined = "".join(statements)
    joined = re.sub(r"--[^\n]*", "", joined)
    return re.sub(r"[\s;]+", "", joined)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: migration files are named <timestamp>_<what>.sql (e.g. 20261125100000_leads.sql)"
            )
        found.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        dup = next(v for v in versions if versions.count(v) > 1)
        raise MigrationError(f"two migration files share the version {dup}")
    return found


def is_supabase(conn: psycopg.Connection) -> bool:
    """True on a real Supabase database (its auth schema is owned by supabase_auth_admin)."""
    row = conn.execute(
        "select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'auth'"
    ).fetchone()
    return row is not None and row[0] == "supabase_auth_admin"


def bootstrap(conn: psycopg.Connection) -> bool:
    """Apply the Supabase-compatibility bootstrap unless this is real Supabase. Returns whether it ran."""
    if is_supabase(conn):
        return False
    conn.execute(BOOTSTRAP_FILE.read_text().encode())  # type: ignore[arg-type]
    conn.commit()
    return True


def _history(conn: psycopg.Connection) -> dict[str, tuple[str, list[str]]]:
    conn.execute(HISTORY_DDL.encode())  # type: ignore[arg-type]
    rows = conn.execute(
        "select version, coalesce(name, ''), coalesce(statements, '{}') from supabase_migrations.schema_migrations"
    ).fetchall()
    conn.commit()
    return {v: (n, list(s)) for v, n, s in rows}


def status(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[MigrationState]:
    """Every migration, file or history row, with its state."""
    history = _history(conn)
    found = discover(directory)
    states: list[MigrationState] = []
    for m in found:
        if m.version not in history:
            states.append(MigrationState(m.version, m.name, "pending"))
        elif _fingerprint(history[m.version][1]) != _fingerprint(m.statements):
            states.append(MigrationState(m.version, m.name, "changed"))
        else:
            states.append(MigrationState(m.version, m.name, "applied"))
    files = {m.version for m in found}
    for version, (name, _) in sorted(history.items()):
        if version not in files:
            states.append(MigrationState(version, name, "missing file"))
    return sorted(states, key=lambda s: s.version)


def migrate(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations in order, each in its own transaction with its history row."""
    states = status(conn, directory)
    changed = [s for s in states if s.state == "changed"]
    if changed:
        names = ", ".join(f"{s.version}_{s.name}.sql" for s in changed)
        raise MigrationError(
            f"applied migrations were edited afterwards: {names}. Add a new migration instead, "
            "or `salesflow db reset` a development database."
        )
    pending = {s.version for s in states if s.state == "pending"}
    applied = []
    for m in discover(directory):
        if m.version not in pending:
            continue
        statements = m.statements  # recorded like the CLI records them
        try:
            with conn.transaction():
                conn.execute(m.path.read_text().encode())  # type: ignore[arg-type]
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, statements, name) "
                    "values (%s, %s, %s)",
                    (m.version, statements, m.name),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"{m.path.name}: {exc}".strip()) from exc
        applied.append(m)
    conn.commit()
    return applied


def seed(conn: psycopg.Connection, path: Path = SEED_FILE) -> None:
    try:
        with conn.transaction():
            conn.execute(path.read_text().encode())  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise MigrationError(f"{path.name}: {exc}".strip()) from exc
    conn.commit()


RESET_SQL = """
drop schema if exists public cascade;
create schema public;
grant usage on schema public to anon, authenticated, service_role;
drop schema if exists private cascade;
drop schema if exists supabase_migrations cascade;
delete from auth.users;
"""


def reset(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR, with_seed: bool = True) -> None:
    """Drop the project's schemas and data, then bootstrap, migrate and seed. Development databases only."""
    if is_supabase(conn):
        raise MigrationError("refusing to reset a Supabase database: use `supabase db reset` there")
    bootstrap(conn)
    conn.execute(RESET_SQL.encode())  # type: ignore[arg-type]
    conn.commit()
    bootstrap(conn)
    migrate(conn, directory)
    if with_seed:
        seed(conn)


def prepare(url: str, with_seed: bool = True) -> list[Migration]:
    """Bootstrap (where Supabase is absent), migrate and seed: what `./scripts/run` does first."""
    with psycopg.connect(url) as conn:
        bootstrap(conn)
        applied = migrate(conn)
        if with_seed:
            seed(conn)
    return applied
