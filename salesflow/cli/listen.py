"""`salesflow listen`: run the event engine until SIGTERM / Ctrl-C."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, cast

import typer

from salesflow import logging as sflog
from salesflow.alerts.evaluator import AlertMonitor, FunctionCaller
from salesflow.alerts.settings import AlertSettings
from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail

# A module-level import although it loads prometheus_client (~20 ms): EngineSettings.window_seconds is the
# --window-ms default shown in the help.
from salesflow.events.context import ServiceFactory
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import HANDLERS_PACKAGE, discover
from salesflow.settings import Settings, SettingsError, settings
from salesflow.transports import TRANSPORTS, Transport, TransportName, open_transport


def build_settings(
    concurrency: int, batch: int, lease: float, poll_interval: float, shutdown_timeout: float, retry_base: float,
    window_ms: float = EngineSettings.window_seconds * 1000,
) -> EngineSettings:
    """EngineSettings from CLI options; a bad value exits 2 naming the option."""
    options = {
        "--window-ms": (window_ms, 0 <= window_ms <= 10_000, "between 0 and 10000"),
        "--concurrency": (concurrency, concurrency >= 1, ">= 1"),
        "--batch": (batch, 1 <= batch <= 1000, "between 1 and 1000"),
        "--lease": (lease, lease >= 1, ">= 1 second"),
        "--poll-interval": (poll_interval, poll_interval > 0, "> 0"),
        "--shutdown-timeout": (shutdown_timeout, shutdown_timeout >= 0, ">= 0"),
        "--retry-base": (retry_base, retry_base >= 0, ">= 0"),
    }
    for option, (value, ok, allowed) in options.items():
        if not ok:
            fail(f"{option}: must be {allowed} (got {value})")
    return EngineSettings(
        concurrency=concurrency,
        batch=batch,
        lease_seconds=lease,
        poll_interval=poll_interval,
        shutdown_timeout=shutdown_timeout,
        backoff_base_seconds=retry_base,
        maintenance_interval=max(0.5, min(5.0, lease / 2)),
        window_seconds=window_ms / 1000,
    )


async def run_engine(
    transport: Transport,
    engine_settings: EngineSettings,
    handler_packages: list[str],
    metrics_port: int | None,
    alongside: Callable[[Engine], Coroutine[Any, Any, None]] | None = None,
    services: Mapping[str, ServiceFactory] | None = None,
    alerts: AlertSettings | None = None,
    metrics_host: str = "127.0.0.1",
) -> Engine:
    """Run an engine on `transport` until it is stopped (signals are installed), optionally with a
    coroutine running alongside (the demo) and services attached for handlers. Returns the stopped engine."""
    from salesflow.events.http import serve_metrics  # imported here: only --metrics-port serves metrics

    registry = discover(handler_packages)
    # Alerting runs in the maintenance loop (salesflow/alerts/evaluator.py): one evaluator across listeners.
    monitor = (AlertMonitor(cast(FunctionCaller, transport.store), engine_settings.worker, alerts)
               if alerts is not None and hasattr(transport.store, "call_function") else None)
    engine = Engine(transport.store, transport.data, registry, engine_settings, wakeup=transport.wakeup,
                    services=services, maintenance=[monitor] if monitor is not None else ())
    engine.install_signal_handlers()
    server = await serve_metrics(engine, metrics_port, metrics_host) if metrics_port else None
    side: asyncio.Task[None] | None = None
    try:
        runner = asyncio.create_task(engine.run())
        if alongside is not None:
            side = asyncio.create_task(alongside(engine))
        await runner
    finally:
        if side is not None and not side.done():
            side.cancel()
            await asyncio.gather(side, return_exceptions=True)
        if monitor is not None:
            await monitor.close()
        if server is not None:
            server.close()
            await server.wait_closed()
        await transport.close()
    return engine


def default_transport(cfg: Settings, database_url: str | None = None) -> TransportName:
    """--transport when not given: SALESFLOW_TRANSPORT; else postgres when a database URL was passed on the
    command line; else supabase when SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are set (the deployment
    the design names); else postgres."""
    if cfg.SALESFLOW_TRANSPORT:
        return cfg.SALESFLOW_TRANSPORT
    if database_url:
        return "postgres"
    return "supabase" if cfg.SUPABASE_URL and cfg.SUPABASE_SERVICE_ROLE_KEY else "postgres"


def listen(
    transport: str | None = typer.Option(
        None, help=f"How to reach the database: {' or '.join(TRANSPORTS)} (default: SALESFLOW_TRANSPORT, else "
        "supabase when SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are set, else postgres)."
    ),
    concurrency: int = typer.Option(16, help="Handlers running at once in this process."),
    batch: int = typer.Option(100, help="Events claimed per call (1-1000)."),
    lease: float = typer.Option(60.0, help="Seconds an event stays leased; heartbeats extend it."),
    poll_interval: float = typer.Option(5.0, help="Seconds between polls when no wake-up arrives."),
    shutdown_timeout: float = typer.Option(20.0, help="Seconds in-flight handlers get on SIGTERM."),
    retry_base: float = typer.Option(2.0, help="Backoff base in seconds: retry n waits base*2^(n-1) +-25%."),
    window_ms: float = typer.Option(
        EngineSettings.window_seconds * 1000,
        help="Milliseconds a claim window waits for its handlers; those done by then are finished in one call, "
        "the rest are leased (the window's events are held for this worker meanwhile). 0 leases every claim.",
    ),
    metrics_port: int | None = typer.Option(None, help="Serve /metrics and /health on this port."),
    metrics_host: str = typer.Option(
        "127.0.0.1", help="Address /metrics and /health listen on (0.0.0.0 in a container, for Prometheus)."
    ),
    handlers: list[str] = typer.Option(
        [HANDLERS_PACKAGE], "--handlers", help="Package or module whose handlers to load (repeatable)."
    ),
    alerts: bool = typer.Option(
        True, "--alerts/--no-alerts", help="Evaluate alert rules and send notifications (docs/alerting.md)."
    ),
    log_level: str | None = typer.Option(None, help="DEBUG, INFO, WARNING or ERROR (default SALESFLOW_LOG_LEVEL)."),
    database_url: str | None = DbUrl,
) -> None:
    """Process outbox events: claim, run handlers, record deliveries, retry, dead-letter. Ctrl-C or SIGTERM
    stops gracefully (in-flight handlers finish, the rest is released)."""
    if transport is not None and transport not in TRANSPORTS:
        fail(f"--transport: must be one of {', '.join(TRANSPORTS)} (got {transport!r})")
    if metrics_port is not None and not 1 <= metrics_port <= 65535:
        fail(f"--metrics-port: must be between 1 and 65535 (got {metrics_port})")
    if log_level is not None and log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"--log-level: must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})")
    engine_settings = build_settings(concurrency, batch, lease, poll_interval, shutdown_timeout, retry_base,
                                     window_ms)
    try:
        cfg = settings()
    except SettingsError as exc:
        fail(str(exc))
    sflog.configure(log_level or cfg.SALESFLOW_LOG_LEVEL, cfg.SALESFLOW_LOG_FORMAT)
    try:
        alert_settings = AlertSettings.from_env(cfg.model_dump()) if alerts else None
    except ValueError as exc:
        fail(str(exc))
    # Retention (SALESFLOW_EVENT_RETENTION): the maintenance loop deletes processed events older than this.
    engine_settings = dataclasses.replace(engine_settings, retention_seconds=cfg.event_retention_seconds())
    transport = transport or default_transport(cfg, database_url)
    url = database(database_url).url if transport == "postgres" else None
    try:
        chosen: TransportName = "postgres" if transport == "postgres" else "supabase"
        bundle = open_transport(chosen, cfg, url)
    except LookupError as exc:
        fail(str(exc))
    try:
        discover(handlers)
    except ImportError as exc:
        fail(f"--handlers: cannot import {exc.name or exc}")
    run_event_loop(run_engine(bundle, engine_settings, handlers, metrics_port, metrics_host=metrics_host,
                              alerts=alert_settings))


def run_event_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run under uvloop when it is installed (lower wake-up latency), else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
