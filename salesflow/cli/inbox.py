"""`salesflow inbox`: the DM inbox over every channel by priority, and replying from it.

Service code straight on the database (DATABASE_URL or --database-url), like the other commands: the list is
`public.inbox` for the named tenant (the same RPC the browser calls under its token), a reply is queued through
`salesflow.inbox.reply` (sent_by inbox) for the listener's send job.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import typer
from pydantic import ValidationError

from salesflow.cli.db import DbUrl, database
from salesflow.cli.messages import describe
from salesflow.cli.output import fail, is_terminal, print_json

app = typer.Typer(help="The DM inbox: conversations of every channel by priority; reply from it.",
                  invoke_without_command=True)

COLUMNS = ("conversation_id", "lead_id", "lead_name", "channel", "inbox_status", "status", "priority", "reasons",
           "unread_count", "last_message_preview", "last_message_direction", "last_message_at", "last_inbound_at",
           "snoozed_until", "lead_score", "draft_action_id", "draft_text")


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{field}: {value!r} is not a UUID")


def _tenant(conn: Any, tenant: str | None) -> uuid.UUID:
    if tenant:
        tenant_id = _uuid(tenant, "--tenant")
        if not conn.execute("select 1 from public.tenants where id = %s", (tenant_id,)).fetchone():
            fail(f"--tenant: no tenant {tenant_id}")
        return tenant_id
    rows = conn.execute("select id from public.tenants order by created_at limit 2").fetchall()
    if len(rows) != 1:
        fail(f"--tenant: the database has {'no' if not rows else 'several'} tenants; name one with --tenant")
    return uuid.UUID(str(rows[0][0]))


def inbox_rows(url: str, tenant: str | None, needs_attention: bool, limit: int) -> list[dict[str, Any]]:
    """The tenant's inbox as `public.inbox` returns it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tenant_id = _tenant(conn, tenant)
        cur = conn.execute(f"select {', '.join(COLUMNS)} from public.inbox(p_needs_attention => %s, "
                           "p_limit => %s, p_tenant_id => %s)", (needs_attention, limit, tenant_id))
        return [dict(zip(COLUMNS, row, strict=True)) for row in cur.fetchall()]


def _show(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Inbox ({len(rows)})")
    for header in ("priority", "lead", "channel", "status", "unread", "last message", "why"):
        table.add_column(header, justify="right" if header in ("priority", "unread") else "left")
    for r in rows:
        arrow = "←" if r["last_message_direction"] == "in" else "→" if r["last_message_direction"] else ""
        table.add_row(str(r["priority"]), str(r["lead_name"] or r["lead_id"]), r["channel"], r["inbox_status"],
                      str(r["unread_count"]), f"{arrow} {r['last_message_preview'] or ''}".strip(),
                      ", ".join(r["reasons"] or []))
    Console().print(table)


@app.callback()
def inbox(
    ctx: typer.Context,
    tenant: str | None = typer.Option(None, "--tenant", help="The tenant (default: the only one)."),
    needs_attention: bool = typer.Option(False, "--needs-attention",
                                         help="Only conversations waiting for a person."),
    limit: int = typer.Option(50, "--limit", help="At most this many conversations (1-500)."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List the inbox, highest priority first (a rich table on a terminal, JSON with --json or in a pipe)."""
    if ctx.invoked_subcommand is not None:
        return
    if not 1 <= limit <= 500:
        fail(f"--limit: must be 1 to 500 (got {limit})")
    rows = inbox_rows(database(database_url).url, tenant, needs_attention, limit)
    if json_output or not is_terminal():
        print_json(rows)
    else:
        _show(rows)


async def _reply(url: str, conversation: uuid.UUID, text: str, key: str | None) -> dict[str, Any]:
    import psycopg

    from salesflow.conversations.sending import SendRefused
    from salesflow.inbox.reply import reply as queue_reply
    from salesflow.transports.postgres import PostgresTenantDataFactory

    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("select tenant_id from public.conversations where id = %s", (conversation,)).fetchone()
    if not found:
        fail(f"conversation_id: no conversation {conversation}")
    factory = PostgresTenantDataFactory(url, pool_size=2)
    try:
        try:
            return await queue_reply(factory.for_tenant(uuid.UUID(str(found[0]))), conversation, text,
                                     idempotency_key=key)
        except ValidationError as exc:
            fail(describe(exc))
        except SendRefused as exc:
            fail(str(exc))
    finally:
        await factory.close()


@app.command()
def reply(
    conversation_id: str = typer.Argument(..., help="The conversation's id (from `salesflow inbox`)."),
    text: str = typer.Option(..., "--text", help="The message to the lead."),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key",
                                               help="Queue at most one message for this key."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Queue a DM to the conversation's lead on its channel (sent_by inbox); the listener sends it."""
    conversation = _uuid(conversation_id, "conversation_id")
    row = asyncio.run(_reply(database(database_url).url, conversation, text, idempotency_key))
    shown = {k: row.get(k) for k in ("id", "status", "channel", "lead_id", "conversation_id", "sent_by")}
    if json_output or not is_terminal():
        print_json(shown)
    else:
        typer.echo(f"queued message {shown['id']} to lead {shown['lead_id']} on {shown['channel']}")


async def _persistence(url: str, tenant: uuid.UUID, channel: str, locale: str) -> str:
    from salesflow.inbox.persistence import ensure_persistence_sequence
    from salesflow.transports.postgres import PostgresTenantDataFactory

    factory = PostgresTenantDataFactory(url, pool_size=2)
    try:
        return await ensure_persistence_sequence(factory.for_tenant(tenant), channel, locale)
    finally:
        await factory.close()


@app.command("persistence-sequence")
def persistence_sequence(
    tenant: str | None = typer.Option(None, "--tenant", help="The tenant (default: the only one)."),
    channel: str = typer.Option("whatsapp", "--channel", help="The DMs' channel: whatsapp, instagram, sms, email."),
    locale: str = typer.Option("de", "--locale", help="de or en."),
    database_url: str | None = DbUrl,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Create (once) the default four-phase persistence sequence: first contact task at 0 h, trust at 48 h,
    clarity at 120 h, pivot at 288 h. Prints its id; enroll leads with `salesflow sequences enroll`."""
    import psycopg

    from salesflow.conversations.vocabulary import MESSAGE_CHANNELS

    if channel not in MESSAGE_CHANNELS:
        fail(f"--channel: must be one of {', '.join(MESSAGE_CHANNELS)} (got {channel!r})")
    if locale not in ("de", "en"):
        fail(f"--locale: must be de or en (got {locale!r})")
    url = database(database_url).url
    with psycopg.connect(url, autocommit=True) as conn:
        tenant_id = _tenant(conn, tenant)
    sequence_id = asyncio.run(_persistence(url, tenant_id, channel, locale))
    if json_output or not is_terminal():
        print_json({"sequence_id": sequence_id, "channel": channel, "locale": locale})
    else:
        typer.echo(f"persistence sequence {sequence_id} ({channel}, {locale})")
