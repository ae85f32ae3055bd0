"""`salesflow conversations list | show`: the conversations and their messages as an operator sees them.

Read straight from the database (`--database-url`, else DATABASE_URL or the local stack's), every tenant
unless `--tenant` narrows it. A rich table on a terminal, JSON with `--json` or when piped.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import typer

from salesflow.cli.db import DbUrl, connect_rows
from salesflow.cli.output import fail, is_terminal, print_json
from salesflow.conversations.vocabulary import MESSAGE_CHANNELS

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Conversations and their messages.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="JSON instead of a table.")


def _uuid(value: str | None, option: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


def _connect(database_url: str | None) -> psycopg.Connection[dict[str, Any]]:
    return connect_rows(database_url, autocommit=True)


def _when(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


@app.command("list")
def list_conversations(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's conversations (UUID)."),
    lead: str | None = typer.Option(None, "--lead", help="Only this lead's conversations (UUID)."),
    channel: str | None = typer.Option(None, "--channel", help=f"One of {', '.join(MESSAGE_CHANNELS)}."),
    unread: bool = typer.Option(False, "--unread", help="Only conversations with unread inbound messages."),
    limit: int = typer.Option(50, "--limit", help="At most this many (1-1000), latest inbound first."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Conversations, the latest inbound first."""
    if channel is not None and channel not in MESSAGE_CHANNELS:
        fail(f"--channel: must be one of {', '.join(MESSAGE_CHANNELS)} (got {channel!r})")
    if not 1 <= limit <= 1000:
        fail(f"--limit: must be between 1 and 1000 (got {limit})")
    params = {"tenant": _uuid(tenant, "--tenant"), "lead": _uuid(lead, "--lead"), "channel": channel,
              "unread": unread, "limit": limit}
    with _connect(database_url) as conn:
        rows = conn.execute(
            "select c.id, c.tenant_id, c.lead_id, l.name as lead_name, c.channel::text as channel, c.status, "
            "c.unread_count, c.assignee_id, c.last_inbound_at, c.last_outbound_at, c.created_at, "
            "(select count(*) from public.messages m where m.conversation_id = c.id) as messages "
            "from public.conversations c join public.leads l on l.id = c.lead_id and l.tenant_id = c.tenant_id "
            "where (%(tenant)s::uuid is null or c.tenant_id = %(tenant)s) "
            "and (%(lead)s::uuid is null or c.lead_id = %(lead)s) "
            "and (%(channel)s::text is null or c.channel::text = %(channel)s) "
            "and (not %(unread)s or c.unread_count > 0) "
            "order by greatest(c.last_inbound_at, c.last_outbound_at, c.created_at) desc nulls last, c.id "
            "limit %(limit)s",
            params,
        ).fetchall()
    if json_output or not is_terminal():
        print_json(rows)
        return
    _table(f"{len(rows)} conversation(s)", ["id", "lead", "channel", "status", "unread", "messages", "last in",
                                            "last out"],
           [[r["id"], r["lead_name"], r["channel"], r["status"], r["unread_count"], r["messages"],
             _when(r["last_inbound_at"]), _when(r["last_outbound_at"])] for r in rows])


@app.command()
def show(
    conversation_id: str = typer.Argument(..., metavar="ID", help="The conversation's id."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """One conversation and its messages (direction, status and the time of each status), oldest first."""
    cid = _uuid(conversation_id, "ID")
    with _connect(database_url) as conn:
        conversation = conn.execute(
            "select c.*, c.channel::text as channel, l.name as lead_name from public.conversations c "
            "join public.leads l on l.id = c.lead_id and l.tenant_id = c.tenant_id where c.id = %s", (cid,)
        ).fetchone()
        if conversation is None:
            fail(f"ID: no conversation with id {cid}", code=1)
        messages = conn.execute(
            "select id, direction, status, content_type, body, template_name, sent_by, provider_message_id, "
            "error_code, error_message, created_at, received_at, queued_at, sending_at, sent_at, delivered_at, "
            "read_at, failed_at, unknown_at from public.messages where conversation_id = %s "
            "order by created_at, id", (cid,)
        ).fetchall()
    if json_output or not is_terminal():
        print_json({"conversation": conversation, "messages": messages})
        return
    typer.echo(f"conversation {conversation['id']} · {conversation['lead_name']} ({conversation['lead_id']}) · "
               f"{conversation['channel']} · {conversation['status']} · {conversation['unread_count']} unread")
    _table(f"{len(messages)} message(s)", ["at", "dir", "status", "by", "text", "times", "error"], [
        [_when(m["received_at"] or m["queued_at"] or m["created_at"]), m["direction"], m["status"], m["sent_by"],
         m["body"] if m["content_type"] != "template" else f"[template {m['template_name']}]",
         " ".join(f"{s}={_when(m[f'{s}_at'])[11:]}" for s in ("sending", "sent", "delivered", "read", "failed",
                                                              "unknown") if m[f"{s}_at"]),
         m["error_message"]]
        for m in messages])
