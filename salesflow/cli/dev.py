"""`salesflow dev`: the local Supabase-compatible stack (the stand-in for `supabase start` without Docker).

`salesflow dev` prepares Postgres (bootstrap where Supabase is absent, migrations, seed) and serves
`/rest/v1`, `/realtime/v1/websocket`, `/auth/v1` and `/functions/v1/<name>` on one port, printing the API
URL and keys like `supabase start`. `salesflow dev status` prints them again. With Docker,
`supabase start` on the same `supabase/` folder runs the real services instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from salesflow import logging as sflog
from salesflow.alerts.evaluator import AlertMonitor, FunctionCaller
from salesflow.alerts.settings import AlertSettings
from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, print_json
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import HANDLERS_PACKAGE, discover
from salesflow.settings import PROJECT_ROOT, SettingsError, settings

if TYPE_CHECKING:
    from salesflow.devstack import DevStack

STATE_FILE = PROJECT_ROOT / ".salesflow" / "dev.json"

app = typer.Typer(help="The local Supabase-compatible stack (PostgREST, Realtime, Auth, functions).",
                  invoke_without_command=True)


def describe(api_url: str, anon: str, service: str, db_url: str | None = None) -> dict[str, Any]:
    """What `supabase start` prints, as a dict."""
    from salesflow.db.locate import redact  # imported here: loads psycopg

    info = {"API URL": api_url, "REST URL": f"{api_url}/rest/v1", "Realtime URL":
            f"{api_url.replace('http', 'ws', 1)}/realtime/v1/websocket", "Auth URL": f"{api_url}/auth/v1",
            "Functions URL": f"{api_url}/functions/v1", "anon key": anon, "service_role key": service}
    if db_url:
        info["DB URL"] = redact(db_url)
    return info


def _print(info: dict[str, Any]) -> None:
    width = max(len(k) for k in info)
    for k, v in info.items():
        typer.echo(f"{k.rjust(width)}: {v}")


@app.callback()
def dev(
    ctx: typer.Context,
    port: int | None = typer.Option(None, help="Port to serve on (default SALESFLOW_DEV_PORT, 54321)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    seed: bool = typer.Option(True, help="Load supabase/seed.sql."),
    listen: bool = typer.Option(False, "--listen", help="Also run the listener (event engine) in this process, "
                                "on the supabase transport against this stack, with the project's handlers."),
    database_url: str | None = DbUrl,
) -> None:
    """Prepare the database and serve the local stack until Ctrl-C / SIGTERM."""
    if ctx.invoked_subcommand is not None:
        return
    # imported here: the command line starts without the devstack server (starlette, uvicorn, websockets)
    # and the database driver
    from salesflow.db import migrations
    from salesflow.devstack import DevStack

    try:
        cfg = settings()
    except SettingsError as exc:
        fail(str(exc))
    chosen = cfg.SALESFLOW_DEV_PORT if port is None else port
    if not 0 <= chosen <= 65535:
        fail(f"--port: must be between 0 and 65535 (got {chosen})")
    sflog.configure(cfg.SALESFLOW_LOG_LEVEL, cfg.SALESFLOW_LOG_FORMAT)
    loc = database(database_url)
    typer.echo(f"database: {loc.describe()}", err=True)
    try:
        applied = migrations.prepare(loc.url, with_seed=seed)
    except migrations.MigrationError as exc:
        fail(str(exc), code=1)
    typer.echo(f"{len(applied)} migration(s) applied" + (", seed loaded" if seed else ""), err=True)
    stack = DevStack(loc.url, host=host, port=chosen, jwt_secret=cfg.SUPABASE_JWT_SECRET)
    try:
        import uvloop  # the faster event loop, when installed (as uvicorn's `standard` extra does)
    except ImportError:
        asyncio.run(_serve(stack, loc.url, listen))
    else:
        uvloop.run(_serve(stack, loc.url, listen))


async def _serve(stack: DevStack, db_url: str, listen: bool = False) -> None:
    from salesflow.transports.supabase import open_supabase  # imported here: loads the supabase SDK

    try:
        await stack.start()
    except OSError as exc:
        fail(f"--port: cannot listen on {stack.host}:{stack.requested_port} ({exc.strerror or exc})", code=1)
    info = describe(stack.url, stack.anon_key, stack.service_role_key, db_url)
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps({"api_url": stack.url, "pid": os.getpid()}))
    typer.echo("Started salesflow dev (local Supabase-compatible stack).")
    _print(info)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    engine: Engine | None = None
    engine_task: asyncio.Task[None] | None = None
    transport = None
    if listen:
        transport = open_supabase(stack.url, stack.service_role_key)
        settings = EngineSettings()
        # The dashboard's Alerts view reads what this listener's maintenance loop evaluates.
        monitor = AlertMonitor(cast(FunctionCaller, transport.store), settings.worker, AlertSettings.from_env())
        engine = Engine(transport.store, transport.data, discover([HANDLERS_PACKAGE]), settings,
                        wakeup=transport.wakeup, maintenance=[monitor])
        engine_task = asyncio.create_task(engine.run())
        typer.echo(f"      listener: {engine.worker} (transport supabase)")
    try:
        await stop.wait()
    finally:
        typer.echo("stopping salesflow dev", err=True)
        if engine is not None and engine_task is not None and transport is not None:
            engine.stop()  # in-flight handlers finish, the rest is released, then the stack goes
            with contextlib.suppress(Exception):
                await engine_task
            await transport.close()
        await stack.stop()
        with contextlib.suppress(FileNotFoundError):
            STATE_FILE.unlink()


@app.command()
def status(json_output: bool = typer.Option(False, "--json")) -> None:
    """Print the API URL and keys of the running local stack (exit 1 when it is not running)."""
    from salesflow.devstack.keys import api_keys  # imported here: loads the devstack package and PyJWT

    try:
        cfg = settings()
    except SettingsError as exc:
        fail(str(exc))
    state = _state(STATE_FILE)
    api_url = state.get("api_url") or cfg.SUPABASE_URL or f"http://127.0.0.1:{cfg.SALESFLOW_DEV_PORT}"
    keys = api_keys(cfg.SUPABASE_JWT_SECRET)
    running = _answers(api_url)
    info = describe(api_url, keys.anon, keys.service_role)
    if json_output:
        print_json({**info, "running": running})
    else:
        typer.echo("salesflow dev is " + ("running." if running else "not running."))
        _print(info)
    if not running:
        raise typer.Exit(1)


def _state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _answers(api_url: str) -> bool:
    import httpx  # imported here: the command line starts without the HTTP client

    try:
        return httpx.get(f"{api_url}/auth/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
