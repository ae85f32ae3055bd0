"""`salesflow run [--demo]`: prepare the database, start the local stack and the listener, show a short
demo, keep serving.

The default is the production path: the local Supabase-compatible stack (`salesflow dev`) serves
PostgREST, Realtime and Auth over the database, the listener runs on the `supabase` transport (Realtime
wake-up, claims over PostgREST RPC), and the demo signs in as a demo user and creates leads through
PostgREST like the browser. `--transport postgres` runs the self-hosting path (psycopg, LISTEN/NOTIFY).
"""

from __future__ import annotations

import typer

from salesflow import logging as sflog
from salesflow.cli.db import DbUrl, database
from salesflow.cli.dev import _print, describe
from salesflow.cli.listen import build_settings, run_engine, run_event_loop
from salesflow.cli.output import fail
from salesflow.events.engine import Engine
from salesflow.events.registry import HANDLERS_PACKAGE
from salesflow.settings import SettingsError, settings
from salesflow.transports import Transport, open_postgres


def run(
    demo: bool = typer.Option(False, "--demo", help="Exit after the demo: status 0 when every demo event "
                              "was processed."),
    skip_demo: bool = typer.Option(False, "--no-demo", help="Only prepare the database and listen."),
    concurrency: int = typer.Option(16, help="Handlers running at once."),
    metrics_port: int | None = typer.Option(None, help="Serve /metrics and /health on this port."),
    log_level: str = typer.Option("WARNING", help="Listener log level while the demo prints its lines."),
    transport: str = typer.Option("supabase", help="supabase: local stack + Realtime/PostgREST (the production "
                                  "path); postgres: direct psycopg with LISTEN/NOTIFY."),
    port: int | None = typer.Option(None, help="Port of the local stack (default SALESFLOW_DEV_PORT, 54321; "
                                    "0 picks a free one)."),
    database_url: str | None = DbUrl,
) -> None:
    """Prepare the database (bootstrap, migrations, seed), start the local Supabase-compatible stack and
    the listener on it, and run the demo; then keep serving until Ctrl-C (or exit after the demo with
    --demo). --transport postgres skips the stack and listens with LISTEN/NOTIFY."""
    # imported here: the command line starts without the demo, the devstack server (starlette, uvicorn,
    # websockets), the supabase SDK and the database driver
    from salesflow.db import migrations
    from salesflow.demo import BrowserPath, DemoOutcome, run_demo_async
    from salesflow.devstack import DevStack
    from salesflow.transports.supabase import open_supabase

    if demo and skip_demo:
        fail("--demo and --no-demo exclude each other")
    if transport not in ("supabase", "postgres"):
        fail(f"--transport: must be supabase or postgres (got {transport!r})")
    if port is not None and not 0 <= port <= 65535:
        fail(f"--port: must be between 0 and 65535 (got {port})")
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

    browser: list[BrowserPath] = []

    async def alongside(engine: Engine) -> None:
        path = "Realtime wake-up, claims over PostgREST RPC" if browser else "LISTEN/NOTIFY"
        typer.echo(f"listener: running as {engine.worker} (transport {transport}, {path})")
        if skip_demo:
            return
        result = await run_demo_async(loc.url, typer.echo, browser=browser[0] if browser else None)
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

    async def main() -> None:
        if transport == "postgres":
            await run_engine(open_postgres(loc.url), engine_settings, [HANDLERS_PACKAGE], metrics_port, alongside)
            return
        stack = DevStack(loc.url, port=cfg.SALESFLOW_DEV_PORT if port is None else port)
        try:
            await stack.start()
        except OSError as exc:
            fail(f"--port: cannot listen on {stack.host}:{stack.requested_port} ({exc.strerror or exc}); "
                 "is `salesflow dev` already running? Use --port 0 for a free port.", code=1)
        typer.echo("local stack (Supabase-compatible):")
        _print(describe(stack.url, stack.anon_key, stack.service_role_key))
        browser.append(BrowserPath(stack.url, stack.anon_key, stack.service_role_key))
        bus: Transport = open_supabase(stack.url, stack.service_role_key)
        try:
            await run_engine(bus, engine_settings, [HANDLERS_PACKAGE], metrics_port, alongside)
        finally:
            await stack.stop()

    run_event_loop(main())
    if demo and not (outcome and outcome[0].ok):
        raise typer.Exit(1)
