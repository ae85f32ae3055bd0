"""`salesflow messages`: queue a message for the send job, and sweep sends that stalled.

The operator's path: straight to the database (DATABASE_URL or --database-url) as service code, like the other
commands. `send` queues through `salesflow.conversations.sending.queue_message`, the same call the inbox and
the autopilot make, so the listener's send job sends it (`--wait` follows it to sent, failed or unknown).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import typer
from pydantic import ValidationError

from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, is_terminal, print_json, print_table
from salesflow.settings import duration_seconds

app = typer.Typer(help="Send messages to leads, and reconcile sends that stalled.", no_args_is_help=True)

FINAL_STATUSES = ("sent", "delivered", "read", "failed", "unknown")


def describe(error: ValidationError) -> str:
    """The first problem of a pydantic error as `field: what is allowed`."""
    first = error.errors()[0]
    text = str(first["msg"]).removeprefix("Value error, ")
    loc = ".".join(str(part) for part in first["loc"])
    return f"{loc}: {text}" if loc else text


def _variables(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    variables: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            fail(f"--var: expected key=value (got {pair!r})")
        variables[key.strip()] = value
    return variables


def _uuid(value: str, option: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


async def _send(url: str, tenant: uuid.UUID | None, lead: uuid.UUID, channel: str, text: str | None,
                template: str | None, variables: dict[str, str] | None, sent_by: str, key: str | None,
                wait: float | None) -> dict[str, Any]:
    from salesflow.conversations.sending import SendRefused, message_status, queue_message
    from salesflow.transports.postgres import PostgresTenantDataFactory

    if tenant is None:
        tenant = _tenant_of(url, lead)
    factory = PostgresTenantDataFactory(url, pool_size=2)
    try:
        data = factory.for_tenant(tenant)
        try:
            row = await queue_message(data, lead, channel, text=text, template=template,
                                      template_variables=variables, sent_by=sent_by, idempotency_key=key)
        except ValidationError as exc:
            fail(describe(exc))
        except SendRefused as exc:
            fail(str(exc))
        if wait is not None:
            deadline = time.monotonic() + wait
            while row["status"] not in FINAL_STATUSES and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                row = await message_status(data, row["id"]) or row
        return row
    finally:
        await factory.close()


def _tenant_of(url: str, lead: uuid.UUID) -> uuid.UUID:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("select tenant_id from public.leads where id = %s", (lead,)).fetchone()
    if not found:
        fail(f"--lead: no lead {lead}")
    return uuid.UUID(str(found[0]))


@app.command()
def send(
    lead: str = typer.Option(..., "--lead", help="The lead's id."),
    channel: str = typer.Option(..., "--channel", help="whatsapp, instagram, sms or email."),
    text: str | None = typer.Option(None, "--text", help="The message text (or --template)."),
    template: str | None = typer.Option(None, "--template", help="An approved template's name (WhatsApp)."),
    var: list[str] = typer.Option([], "--var", help="A template variable key=value (repeatable)."),
    tenant: str | None = typer.Option(None, "--tenant", help="The lead's tenant (default: looked up from the lead)."),
    sent_by: str = typer.Option("user", "--sent-by", help="user, sequence, autopilot or inbox."),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key",
                                               help="Queue at most one message for this key."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the message is sent, failed or unknown."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds --wait waits at most."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Queue a message to a lead; the listener's send job sends it. Prints the message id and status. With
    --wait, exits 1 when it ends failed or unknown, or is still on its way after --timeout."""
    lead_id = _uuid(lead, "--lead")
    tenant_id = _uuid(tenant, "--tenant") if tenant else None
    if timeout <= 0:
        fail(f"--timeout: must be > 0 seconds (got {timeout})")
    loc = database(database_url)
    row = asyncio.run(_send(loc.url, tenant_id, lead_id, channel, text, template, _variables(var), sent_by,
                            idempotency_key, timeout if wait else None))
    shown = {k: row.get(k) for k in ("id", "status", "channel", "lead_id", "provider_message_id", "error_code",
                                     "error_message")}
    if json_output or not is_terminal():
        print_json(shown)
    else:
        print_table(["message", "status", "channel", "provider id", "error"],
                    [(shown["id"], shown["status"], shown["channel"], shown["provider_message_id"],
                      " ".join(x for x in (shown["error_code"], shown["error_message"]) if x))])
    if wait and row["status"] not in ("sent", "delivered", "read"):
        raise typer.Exit(1)


@app.command()
def reconcile(
    older_than: str = typer.Option("10m", "--older-than",
                                   help="Only sends whose last attempt began longer ago: 30s, 10m, 1h."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Hand every message still queued or sending whose send job is no longer running back to the send job
    (a new message.queued): it sends it, reconciles it with the provider, or marks it unknown. Run it from
    cron every few minutes; it is safe to run any time."""
    try:
        seconds = duration_seconds(older_than)
    except ValueError as exc:
        fail(f"--older-than: {exc}")
    import psycopg
    from psycopg.rows import dict_row

    loc = database(database_url)
    try:
        with psycopg.connect(loc.url, autocommit=True, row_factory=dict_row) as conn:
            rows = conn.execute("select tenant_id, message_id, status, event_id from public.requeue_stalled_sends(%s)",
                                (seconds,)).fetchall()
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to {loc.describe()}: {exc}".strip(), code=1)
    if json_output or not is_terminal():
        print_json(rows)
        return
    print_table(["tenant", "message", "was", "new event"],
                [(r["tenant_id"], r["message_id"], r["status"], r["event_id"]) for r in rows])
    typer.echo(f"{len(rows)} stalled send(s) handed back to the send job")
