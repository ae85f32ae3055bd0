"""`salesflow run [--demo]`: prepare the database, start the local stack and the listener, show a short
demo, keep serving.

The default is the production path: the local Supabase-compatible stack (`salesflow dev`) serves
PostgREST, Realtime, Auth and the functions over the database, the listener runs on the `supabase` transport
(Realtime wake-up, claims over PostgREST RPC), and the demo (salesflow/demo.py) posts a signed WhatsApp webhook
to `/functions/v1/whatsapp-webhook` and follows the lead it creates to a sent reply.

`--transport postgres` runs the self-hosting path: the listener on psycopg with LISTEN/NOTIFY. Provider
webhooks still arrive over HTTP at the functions, and a function reaches the database the way an edge function
does, through PostgREST RPC with the service-role key; so the same local server is started for `/functions/v1`
and the `/rest/v1` they call (on a free loopback port unless --port is given), and the demo's webhook is the
same signed HTTP request over TCP as on the supabase transport. (Posting to the function's ASGI app in-process
would skip the HTTP server but not PostgREST, which the function calls by URL.)

The send job in this process gets `salesflow.demo.offline_adapters`: the demo connection's sends are recorded
by the outbox adapter; other connections are sent as configured.
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
                                  "path); postgres: direct psycopg with LISTEN/NOTIFY (the stack serves only the "
                                  "functions and the PostgREST they call)."),
    port: int | None = typer.Option(None, help="Port of the local stack (default SALESFLOW_DEV_PORT, 54321, or a "
                                    "free one with --transport postgres; 0 picks a free one)."),
    database_url: str | None = DbUrl,
) -> None:
    """Prepare the database (bootstrap, migrations, seed), start the local Supabase-compatible stack and
    the listener on it, and run the demo; then keep serving until Ctrl-C (or exit after the demo with
    --demo). --transport postgres listens with LISTEN/NOTIFY and serves only what webhooks need."""
    # imported here: the command line starts without the demo, the devstack server (starlette, uvicorn,
    # websockets), the supabase SDK and the database driver
    from salesflow.db import migrations
    from salesflow.demo import DemoOutcome, DemoStack, offline_adapters, run_demo
    from salesflow.devstack import DevStack
    from salesflow.handlers.sending import ADAPTERS_SERVICE
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

    stacks: list[DemoStack] = []

    async def alongside(engine: Engine) -> None:
        path = "Realtime wake-up, claims over PostgREST RPC" if transport == "supabase" else "LISTEN/NOTIFY"
        typer.echo(f"listener: running as {engine.worker} (transport {transport}, {path})")
        if skip_demo:
            return
        result = await run_demo(loc.url, engine.data, stacks[0], typer.echo)
        outcome.append(result)
        typer.echo(
            f"demo: {result.processed} of {result.events} events processed"
            + (f", {result.failed} failed" if result.failed else "")
            + (f", {result.unfinished} unfinished" if result.unfinished else "")
            + (f"; {result.problem}" if result.problem else "")
        )
        if demo:
            engine.stop()
        else:
            typer.echo("listening for events; Ctrl-C to stop")

    services = {ADAPTERS_SERVICE: lambda _context: offline_adapters}

    async def main() -> None:
        default_port = 0 if transport == "postgres" else cfg.SALESFLOW_DEV_PORT
        stack = DevStack(loc.url, port=default_port if port is None else port)
        try:
            await stack.start()
        except OSError as exc:
            fail(f"--port: cannot listen on {stack.host}:{stack.requested_port} ({exc.strerror or exc}); "
                 "is `salesflow dev` already running? Use --port 0 for a free port.", code=1)
        stacks.append(DemoStack(stack.url, stack.anon_key, stack.service_role_key, browser=transport == "supabase"))
        try:
            if transport == "postgres":
                typer.echo(f"functions: {stack.url}/functions/v1 (provider webhooks; they call {stack.url}/rest/v1)")
                await run_engine(open_postgres(loc.url), engine_settings, [HANDLERS_PACKAGE], metrics_port, alongside,
                                 services)
                return
            typer.echo("local stack (Supabase-compatible):")
            _print(describe(stack.url, stack.anon_key, stack.service_role_key))
            bus: Transport = open_supabase(stack.url, stack.service_role_key)
            await run_engine(bus, engine_settings, [HANDLERS_PACKAGE], metrics_port, alongside, services)
        finally:
            await stack.stop()

    run_event_loop(main())
    if demo and not (outcome and outcome[0].ok):
        raise typer.Exit(1)
