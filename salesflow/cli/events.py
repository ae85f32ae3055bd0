"""`salesflow events`: status, list, show, replay, publish: the outbox as an operator sees it."""

from __future__ import annotations

import json
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, is_terminal, print_json, print_table
from salesflow.events.types import EVENT_TYPES

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Inspect, replay and publish outbox events.", no_args_is_help=True)

STATUSES = ("pending", "processing", "processed", "failed")
PAYLOAD_LIMIT_BYTES = 262144  # the events_payload_size check constraint: 256 KiB
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, option: str = "--since") -> datetime | None:
    """`--since 2h` (s, m, h, d, w ago) or an ISO date/time (UTC when no offset is given)."""
    if value is None:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option}: {value!r} is neither a duration like 30m, 2h, 7d nor an ISO date like 2026-11-25T10:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_uuid(value: str, option: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


def _connect(database_url: str | None) -> psycopg.Connection[dict[str, Any]]:
    # imported here: the command line starts without the database driver
    import psycopg
    from psycopg.rows import dict_row

    loc = database(database_url)
    try:
        return psycopg.connect(loc.url, autocommit=True, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to {loc.describe()}: {exc}".strip(), code=1)


def _sql_error(exc: psycopg.Error) -> str:
    diag = exc.diag
    message = diag.message_primary or str(exc)
    return message + (f" ({diag.message_hint})" if diag.message_hint else "")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


@app.command()
def status(database_url: str | None = DbUrl, json_output: bool = typer.Option(False, "--json")) -> None:
    """Counts per status and type, oldest pending age, failures in the last hour, lease expiries."""
    with _connect(database_url) as conn:
        row = conn.execute("select public.event_status_report() as report").fetchone()
        waiting = conn.execute("select count(*) as n from public.events "
                               "where held_back and status = 'pending'").fetchone()
    report: dict[str, Any] = row["report"] if row else {}
    # Pending events a claim passed over because an earlier event of their ordering key was in flight or
    # waiting: out of the claim line until that event finishes.
    report["held_back_behind_their_key"] = waiting["n"] if waiting else 0
    if json_output or not is_terminal():
        print_json(report)
        return
    by_status = report.get("by_status", {})
    print_table(["status", "events"], [(s, by_status.get(s, 0)) for s in STATUSES])
    typer.echo("")
    per_type: dict[str, dict[str, int]] = {}
    for item in report.get("by_type", []):
        per_type.setdefault(item["type"], {})[item["status"]] = item["count"]
    print_table(["type", *STATUSES], [(t, *(c.get(s, 0) for s in STATUSES)) for t, c in sorted(per_type.items())])
    typer.echo("")
    typer.echo(f"oldest pending: {_age(report.get('oldest_pending_age_seconds'))}")
    typer.echo(f"pending, held back behind an earlier event of their ordering key: "
               f"{report['held_back_behind_their_key']}")
    typer.echo(f"failed in the last hour: {report.get('failed_last_hour', 0)}")
    typer.echo(
        f"lease expiries: {report.get('lease_expiries_total', 0)} in total, "
        f"{report.get('lease_expiries_last_hour', 0)} events in the last hour"
    )


@app.command("list")
def list_events(
    status_filter: str | None = typer.Option(None, "--status", help=f"One of {', '.join(STATUSES)}."),
    event_type: str | None = typer.Option(None, "--type", help="Event type, e.g. lead.created."),
    since: str | None = typer.Option(None, help="Created since: 30m, 2h, 7d or an ISO date/time."),
    tenant: str | None = typer.Option(None, help="Only this tenant's events (UUID)."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Events, newest first."""
    if status_filter is not None and status_filter not in STATUSES:
        fail(f"--status: must be one of {', '.join(STATUSES)} (got {status_filter!r})")
    if not 1 <= limit <= 10000:
        fail(f"--limit: must be between 1 and 10000 (got {limit})")
    since_at = parse_since(since)
    tenant_id = parse_uuid(tenant, "--tenant") if tenant else None
    with _connect(database_url) as conn:
        rows = conn.execute(
            "select id, type, status, attempts, max_attempts, tenant_id, ordering_key, created_at, run_after, "
            "processed_at, failed_at, last_error from public.events "
            "where (%(status)s::text is null or status = %(status)s) and (%(type)s::text is null or type = %(type)s) "
            "and (%(since)s::timestamptz is null or created_at >= %(since)s) "
            "and (%(tenant)s::uuid is null or tenant_id = %(tenant)s) "
            "order by created_at desc, seq desc limit %(limit)s",
            {"status": status_filter, "type": event_type, "since": since_at, "tenant": tenant_id, "limit": limit},
        ).fetchall()
    if json_output or not is_terminal():
        print_json(rows)
        return
    print_table(
        ["id", "type", "status", "attempts", "created", "last error"],
        [
            (r["id"], r["type"], r["status"], f"{r['attempts']}/{r['max_attempts']}",
             r["created_at"].strftime("%Y-%m-%d %H:%M:%S"), (r["last_error"] or "")[:60])
            for r in rows
        ],
    )
    typer.echo(f"{len(rows)} event(s)")


@app.command()
def show(
    event_id: str = typer.Argument(..., help="The event's id."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """One event: payload, status, attempts, errors and each handler's delivery."""
    eid = parse_uuid(event_id, "EVENT_ID")
    with _connect(database_url) as conn:
        event = conn.execute("select * from public.events where id = %s", (eid,)).fetchone()
        if event is None:
            fail(f"EVENT_ID: no event with id {eid}", code=1)
        deliveries = conn.execute(
            "select handler, status, attempts, duration_ms, last_error, started_at, finished_at "
            "from public.event_deliveries where event_id = %s order by handler",
            (eid,),
        ).fetchall()
    if json_output or not is_terminal():
        print_json({"event": event, "deliveries": deliveries})
        return
    for key in ("id", "type", "status", "held_back", "tenant_id", "attempts", "max_attempts", "ordering_key", "source",
                "correlation_id", "causation_id", "created_at", "run_after", "processed_at", "failed_at",
                "locked_by", "locked_until", "lease_expiries", "last_error"):
        typer.echo(f"{key + ':':<16}{'' if event[key] is None else event[key]}")
    typer.echo("payload:")
    typer.echo(json.dumps(event["payload"], indent=2, ensure_ascii=False))
    typer.echo("deliveries:")
    if deliveries:
        print_table(
            ["handler", "status", "attempts", "ms", "last error"],
            [(d["handler"], d["status"], d["attempts"], d["duration_ms"], (d["last_error"] or "")[:80])
             for d in deliveries],
        )
    else:
        typer.echo("  (none recorded)")


@app.command()
def replay(
    event_id: str | None = typer.Argument(None, help="Replay this event (processed or failed)."),
    failed: bool = typer.Option(False, "--failed", help="Replay every failed event matching the filters."),
    event_type: str | None = typer.Option(None, "--type", help="With --failed: only this type."),
    since: str | None = typer.Option(None, help="With --failed: created since (30m, 2h, 7d or ISO)."),
    all_handlers: bool = typer.Option(
        False, "--all-handlers", help="Run every handler again, not only those that did not succeed."
    ),
    database_url: str | None = DbUrl,
) -> None:
    """Move events back to pending. By default only the handlers that did not succeed run again."""
    import psycopg  # imported here: the command line starts without the database driver

    if (event_id is None) == (not failed):
        fail("give either an EVENT_ID or --failed (with optional --type / --since)")
    if event_id is not None and (event_type or since):
        fail("--type and --since filter --failed; they cannot be combined with an EVENT_ID")
    with _connect(database_url) as conn:
        try:
            if event_id is not None:
                eid = parse_uuid(event_id, "EVENT_ID")
                conn.execute("select public.replay_event(%s, %s)", (eid, all_handlers))
                typer.echo(f"replayed {eid}" + (" (all handlers)" if all_handlers else ""))
            else:
                row = conn.execute(
                    "select public.replay_events('failed', %s, %s, %s) as n",
                    (event_type, parse_since(since), all_handlers),
                ).fetchone()
                typer.echo(f"replayed {row['n'] if row else 0} failed event(s)")
        except psycopg.errors.NoDataFound as exc:
            fail(_sql_error(exc), code=1)
        except psycopg.Error as exc:
            fail(_sql_error(exc))


@app.command()
def publish(
    event_type: str = typer.Argument(..., metavar="TYPE", help="A catalogue type, e.g. lead.created."),
    tenant: str = typer.Option(..., help="The tenant's id (UUID)."),
    payload: str = typer.Option(
        "{}", help="The payload: a JSON object (at most 256 KiB), or @FILE to read it from a file, - for stdin."
    ),
    ordering_key: str | None = typer.Option(None, help="Events of one key run one at a time, in order."),
    delay: float | None = typer.Option(None, help="Run no earlier than this many seconds from now."),
    max_attempts: int = typer.Option(5, help="Attempts before the event is failed (1-100)."),
    database_url: str | None = DbUrl,
) -> None:
    """Publish an event through public.publish_event (checked: tenant, type, payload)."""
    import psycopg  # imported here: the command line starts without the database driver

    tenant_id = parse_uuid(tenant, "--tenant")
    if event_type not in EVENT_TYPES:
        fail(f"TYPE: unknown event type {event_type!r}; known types: {', '.join(sorted(EVENT_TYPES))}")
    text = payload
    if payload == "-":
        text = sys.stdin.read()
    elif payload.startswith("@"):
        try:
            text = Path(payload[1:]).read_text()
        except OSError as exc:
            fail(f"--payload: cannot read {payload[1:]!r}: {exc.strerror}")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--payload: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    if not isinstance(body, dict):
        fail(f"--payload: must be a JSON object, got a JSON {type(body).__name__}")
    size = len(json.dumps(body, ensure_ascii=False).encode())
    if size > PAYLOAD_LIMIT_BYTES:
        fail(f"--payload: {size} bytes is over the limit of {PAYLOAD_LIMIT_BYTES} bytes (256 KiB)")
    if not 1 <= max_attempts <= 100:
        fail(f"--max-attempts: must be between 1 and 100 (got {max_attempts})")
    if delay is not None and delay < 0:
        fail(f"--delay: must be >= 0 seconds (got {delay})")
    with _connect(database_url) as conn:
        try:
            row = conn.execute(
                "select public.publish_event(p_tenant_id => %s, p_type => %s, p_payload => %s::jsonb, "
                "p_ordering_key => %s, p_run_after_seconds => %s, p_source => 'cli', p_max_attempts => %s) as id",
                (tenant_id, event_type, json.dumps(body), ordering_key, delay, max_attempts),
            ).fetchone()
        except psycopg.Error as exc:
            fail(_sql_error(exc).replace("publish_event.tenant_id", "--tenant").replace("publish_event.", "--"))
    typer.echo(str(row["id"]) if row else "")


@app.command()
def prune(
    older_than: str | None = typer.Option(
        None, "--older-than",
        help="Delete processed events processed longer ago than this: 30m, 12h, 7d, 2w "
        "(default: SALESFLOW_EVENT_RETENTION, 7d).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted; delete nothing."),
    batch: int = typer.Option(1000, help="Events deleted per transaction (1-100000)."),
    database_url: str | None = DbUrl,
) -> None:
    """Delete processed events older than the retention, with their deliveries, in small batches (what the
    listener's maintenance does on its own). Failed events stay until replayed; pending and processing
    events are never touched. One pruner at a time: while another one runs, this exits 1."""
    import psycopg  # imported here: the command line starts without the database driver

    from salesflow.settings import SettingsError, duration_seconds, settings

    if not 1 <= batch <= 100_000:
        fail(f"--batch: must be between 1 and 100000 (got {batch})")
    if older_than is not None:
        try:
            seconds = duration_seconds(older_than)
        except ValueError as exc:
            fail(f"--older-than: {exc}")
        label = older_than.strip()
    else:
        try:
            cfg = settings()
        except SettingsError as exc:
            fail(str(exc))
        retention = cfg.event_retention_seconds()
        if retention is None:
            fail("--older-than: SALESFLOW_EVENT_RETENTION is off; name a duration, e.g. --older-than 30d")
        seconds, label = retention, cfg.SALESFLOW_EVENT_RETENTION
    with _connect(database_url) as conn:
        try:
            if dry_run:
                row = conn.execute("select public.prune_events(%s, 1, true) as n", (seconds,)).fetchone()
                typer.echo(f"would delete {row['n'] if row else 0} processed event(s) older than {label} "
                           "(and their deliveries); nothing deleted (--dry-run)")
                return
            total = 0
            while True:
                row = conn.execute("select public.prune_events(%s, %s) as n", (seconds, batch)).fetchone()
                deleted = row["n"] if row else 0
                if deleted is None:
                    if total == 0:
                        fail("another pruner is running (a listener's maintenance, or another prune); "
                             "try again later", code=1)
                    break
                total += deleted
                if deleted < batch:
                    break
        except psycopg.Error as exc:
            fail(_sql_error(exc))
    typer.echo(f"deleted {total} processed event(s) older than {label}, with their deliveries")
