"""`salesflow db`: bootstrap, migrate, status, reset, seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from salesflow.cli.output import fail, print_json, print_table
from salesflow.settings import SettingsError, settings

if TYPE_CHECKING:
    import psycopg

    from salesflow.db.locate import DatabaseLocation

app = typer.Typer(help="Prepare the database: Supabase-compat bootstrap, migrations, seed.", no_args_is_help=True)


def database(database_url: str | None) -> DatabaseLocation:
    """The database to act on: --database-url, else the documented lookup order."""
    from salesflow.db.locate import DatabaseLocation, locate  # imported here: loads psycopg

    if database_url:
        if not database_url.startswith(("postgresql://", "postgres://")):
            fail(f"--database-url must start with postgresql:// (got {database_url!r})")
        return DatabaseLocation(database_url, "DATABASE_URL")
    try:
        return locate(settings())
    except SettingsError as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(str(exc), code=1)


def connect_rows(database_url: str | None, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
    """A connection to the database the command acts on, rows as dicts; exit 1 naming it when unreachable."""
    import psycopg  # imported here: the command line starts without the database driver
    from psycopg.rows import dict_row

    loc = database(database_url)
    try:
        return psycopg.connect(loc.url, autocommit=autocommit, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to {loc.describe()}: {exc}".strip(), code=1)


DbUrl = typer.Option(None, "--database-url", envvar=None, help="Postgres URL (default: DATABASE_URL, "
                     "else 127.0.0.1:5432/salesflow, else embedded).")


def _connect(loc: DatabaseLocation) -> psycopg.Connection:
    import psycopg  # imported here: the command line starts without the database driver

    try:
        return psycopg.connect(loc.url)
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to {loc.describe()}: {exc}".strip(), code=1)


@app.command()
def migrate(
    database_url: str | None = DbUrl,
    seed: bool = typer.Option(False, help="Also load supabase/seed.sql."),
) -> None:
    """Apply the bootstrap (vanilla Postgres only) and every pending migration, in order."""
    from salesflow.db import migrations  # imported here: loads psycopg and sqlparse

    loc = database(database_url)
    typer.echo(f"database: {loc.describe()}", err=True)
    with _connect(loc) as conn:
        try:
            if migrations.bootstrap(conn):
                typer.echo("bootstrap: Supabase-compatibility layer applied (vanilla Postgres)", err=True)
            applied = migrations.migrate(conn)
            if seed:
                migrations.seed(conn)
        except migrations.MigrationError as exc:
            fail(str(exc), code=1)
    for m in applied:
        typer.echo(f"applied {m.version}_{m.name}.sql")
    typer.echo(f"{len(applied)} migration(s) applied" + (", seed loaded" if seed else ""))


@app.command()
def status(database_url: str | None = DbUrl, json_output: bool = typer.Option(False, "--json")) -> None:
    """List migrations as applied, pending, changed (edited after applying) or missing file."""
    from salesflow.db import migrations  # imported here: loads psycopg and sqlparse

    loc = database(database_url)
    with _connect(loc) as conn:
        try:
            states = migrations.status(conn)
        except migrations.MigrationError as exc:
            fail(str(exc), code=1)
    if json_output:
        print_json([s.__dict__ for s in states])
    else:
        typer.echo(f"database: {loc.describe()}")
        print_table(["version", "name", "state"], [(s.version, s.name, s.state) for s in states])
        pending = sum(s.state == "pending" for s in states)
        changed = sum(s.state == "changed" for s in states)
        typer.echo(f"{pending} pending, {changed} changed")
    if any(s.state in ("changed", "missing file") for s in states):
        raise typer.Exit(1)


@app.command()
def seed(database_url: str | None = DbUrl) -> None:
    """Load supabase/seed.sql (idempotent)."""
    from salesflow.db import migrations  # imported here: loads psycopg and sqlparse

    loc = database(database_url)
    with _connect(loc) as conn:
        try:
            migrations.seed(conn)
        except migrations.MigrationError as exc:
            fail(str(exc), code=1)
    typer.echo("seed loaded")


@app.command()
def reset(
    database_url: str | None = DbUrl,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    seed: bool = typer.Option(True, help="Load supabase/seed.sql afterwards."),
) -> None:
    """Drop the project's schemas and data, then bootstrap, migrate and seed (development only)."""
    from salesflow.db import migrations  # imported here: loads psycopg and sqlparse

    loc = database(database_url)
    if not yes and not typer.confirm(f"Reset {loc.describe()}? All project data is deleted."):
        raise typer.Exit(1)
    with _connect(loc) as conn:
        try:
            migrations.reset(conn, with_seed=seed)
        except migrations.MigrationError as exc:
            fail(str(exc), code=1)
    typer.echo("database reset: migrations applied" + (", seed loaded" if seed else ""))
