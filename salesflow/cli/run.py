"""`salesflow run [--demo]`: prepare the database, start the listener, show a short demo, keep serving."""

from __future__ import annotations

import typer

from salesflow import logging as sflog
from salesflow.cli.db import DbUrl, database
from salesflow.cli.listen import build_settings, run_engine, run_event_loop
from salesflow.cli.output import fail
from salesflow.db import migrations
from salesflow.demo import DemoOutcome, run_demo_async
from salesflow.events.engine import Engine
from salesflow.events.registry import HANDLERS_PACKAGE
from salesflow.settings import SettingsError, settings
from salesflow.transports import open_postgres


def run(
    demo: bool = typer.Option(False, "--demo", help="Exit after the demo: status 0 when every demo event "
                              "was processed."),
    skip_demo: bool = typer.Option(False, "--no-demo", help="Only prepare the database and listen."),
    concurrency: int = typer.Option(16, help="Handlers running at once."),
    metrics_port: int | None = typer.Option(None, help="Serve /metrics and /health on this port."),
    log_level: str = typer.Option("WARNING", help="Listener log level while the demo prints its lines."),
    database_url: str | None = DbUrl,
) -> None:
    """Prepare the database (bootstrap, migrations, seed), start the listener and run the demo; then keep
    processing events until Ctrl-C (or exit after the demo with --demo)."""
    if demo and skip_demo:
        fail("--demo and --no-demo exclude each other")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"--log-level: must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})")
    try:
        cfg = settings()
    except SettingsError as exc:
        fail(str(exc))
    sflog.configure(log_level, cfg.SALESFLOW_LOG_FORMAT)
    loc = database(database_url)
    typer.echo(f"database: {loc.describe()}")
    try:
        applied = migrations.prepare(loc.url)
    except migrations.MigrationError as exc:
        fail(str(exc), code=1)
    typer.echo(f"migrations: {len(applied)} applied, seed loaded")
    engine_settings = build_settings(concurrency, 100, 60.0, 5.0, 20.0, 2.0)
    outcome: list[DemoOutcome] = []

    async def alongside(engine: Engine) -> None:
        typer.echo(f"listener: running as {engine.worker} (transport postgres, LISTEN/NOTIFY)")
        if skip_demo:
            return
        result = await run_demo_async(loc.url, typer.echo)
        outcome.append(result)
        typer.echo(
            f"demo: {result.processed} of {result.events} events processed"
            + (f", {result.failed} failed" if result.failed else "")
            + (f", {result.unfinished} unfinished" if result.unfinished else "")
        )
        if demo:
            engine.stop()
        else:
            typer.echo("listening for events; Ctrl-C to stop")

    run_event_loop(run_engine(open_postgres(loc.url), engine_settings, [HANDLERS_PACKAGE], metrics_port, alongside))
    if demo and not (outcome and outcome[0].ok):
        raise typer.Exit(1)
