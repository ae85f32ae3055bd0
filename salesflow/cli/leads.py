"""`salesflow leads`: erase a lead (`forget`), import a WhatsApp chat export (`import-chat`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, is_terminal, print_json

app = typer.Typer(help="Leads: memory context, erasure (GDPR), WhatsApp chat import.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
T = TypeVar("T")

# Files with more lines than this show a progress bar (on a terminal).
PROGRESS_FROM_LINES = 2000


def _uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        fail(f"{field}: must be a UUID (got {value!r})")


def _tenant_of_lead(url: str, lead_id: str) -> str:
    import psycopg  # imported here: the command line starts without the database driver

    with psycopg.connect(url) as conn:
        row = conn.execute("select tenant_id::text from public.leads where id = %s", (lead_id,)).fetchone()
    if row is None:
        fail(f"ID: there is no lead {lead_id}")
    return str(row[0])


def _only_tenant(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("select id::text from public.tenants order by created_at limit 2").fetchall()
    if len(rows) != 1:
        fail(f"--tenant: required, the database has {'no' if not rows else 'several'} tenants "
             "(give the tenant's id)")
    return str(rows[0][0])


def _with_data(url: str, tenant: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(data)` with service-role TenantData for `tenant` (the handlers' data access)."""
    import psycopg

    from salesflow.transports.postgres_data import PostgresTenantDataFactory

    async def main() -> T:
        factory = PostgresTenantDataFactory(url, pool_size=1)
        try:
            return await work(factory.for_tenant(uuid.UUID(tenant)))
        finally:
            await factory.close()

    try:
        return asyncio.run(main())
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc).strip()
        fail(f"{message} ({exc.diag.message_hint})" if exc.diag.message_hint else message, code=1)


def _print_pairs(title: str, pairs: list[tuple[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in pairs:
        table.add_row(key, "" if value is None else str(value))
    Console().print(table)


@app.command("forget")
def forget(
    lead_id: str = typer.Argument(..., metavar="ID", help="The lead to erase."),
    tenant: str | None = typer.Option(None, "--tenant", help="The lead's tenant (default: looked up)."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Erase a lead (GDPR art. 17) in one transaction: its messages, summaries, facts, identities and every
    row naming it; the lead and its consents stay anonymised (an opt-out keeps suppressing); event payloads,
    errors, analytics and webhook bodies are redacted."""
    from salesflow.conversations.forget import LeadNotFound, forget_lead

    lead = _uuid(lead_id, "ID")
    url = database(database_url).url
    tenant_id = _uuid(tenant, "--tenant") if tenant else _tenant_of_lead(url, lead)
    try:
        erasure = _with_data(url, tenant_id, lambda data: forget_lead(data, lead))
    except LeadNotFound:
        fail(f"ID: there is no lead {lead} in tenant {tenant_id}")
    if json_output or not is_terminal():
        print_json(erasure.to_dict())
        return
    _print_pairs(f"lead {lead} erased", [(k, v) for k, v in sorted(erasure.erased.items())])


@app.command("context")
def context(
    lead_id: str = typer.Argument(..., metavar="ID", help="The lead."),
    budget: int = typer.Option(2000, "--budget", min=0, help="Token budget (estimated tokens)."),
    recall_k: int = typer.Option(5, "--recall-k", min=0, max=50, help="Older messages to recall by topic."),
    query: str | None = typer.Option(None, "--query", help="Recall for this text (default: the newest inbound)."),
    tenant: str | None = typer.Option(None, "--tenant", help="The lead's tenant (default: looked up)."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Print the lead's memory context as a prompt would get it: profile, facts, summaries, recalled and
    newest messages, within the token budget."""
    from salesflow.conversations.memory import LeadNotFound, build_context

    lead = _uuid(lead_id, "ID")
    url = database(database_url).url
    tenant_id = _uuid(tenant, "--tenant") if tenant else _tenant_of_lead(url, lead)
    try:
        built = _with_data(url, tenant_id, lambda data: build_context(data, lead, budget, recall_k, query))
    except LeadNotFound:
        fail(f"ID: there is no lead {lead} in tenant {tenant_id}")
    if json_output:
        print_json(built.to_dict())
        return
    typer.echo(built.render())
    typer.echo(f"({built.tokens} of {budget} estimated tokens: {len(built.recent)} newest messages, "
               f"{len(built.recalled)} recalled)", err=True)


@app.command("import-chat")
def import_chat(
    file: Path = typer.Argument(..., metavar="FILE", help="A WhatsApp chat export (.txt, without media)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Tenant id (default: the only tenant)."),
    channel: str = typer.Option("whatsapp", "--channel", help="whatsapp or sms."),
    phone: str | None = typer.Option(None, "--phone", help="The lead's phone number (default: the author's, "
                                     "when WhatsApp shows the lead as a number)."),
    name: str | None = typer.Option(None, "--name", help="The lead's name (default: the lead's author name)."),
    me: str | None = typer.Option(None, "--me", help="Which author is you, the tenant's person (default: the "
                                  "author who is not the lead)."),
    timezone: str = typer.Option("Europe/Berlin", "--timezone", help="The exporting phone's time zone."),
    region: str = typer.Option("DE", "--region", help="Country for numbers without +country code."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Import a WhatsApp chat export as a lead with its conversation history (idempotent: a re-import adds
    only what is new). German and English formats; multi-line messages; system lines skipped."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from salesflow.conversations import chat_import as ci

    if channel not in ("whatsapp", "sms"):
        fail(f"--channel: whatsapp or sms (got {channel!r})")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone: an IANA time zone such as Europe/Berlin (got {timezone!r})")
    if not file.is_file():
        fail(f"FILE: {file} is not a file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"FILE: {file} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    lines = text.splitlines()
    show = is_terminal() and not json_output and len(lines) > PROGRESS_FROM_LINES

    from rich.progress import Progress

    with Progress(disable=not show, transient=True) as progress:
        reading = progress.add_task("reading", total=len(lines))
        try:
            chat = ci.parse_chat(lines, timezone, progress=lambda n: progress.update(reading, completed=n))
        except ci.ChatParseError as exc:
            fail(f"FILE: {file}: {exc}")
        try:
            parties = ci.resolve_parties(chat, me=me, name=name, phone=phone, region=region)
        except ci.ChatImportError as exc:
            fail(str(exc))
        url = database(database_url).url
        tenant_id = _uuid(tenant, "--tenant") if tenant else _only_tenant(url)
        sending = progress.add_task("importing", total=len(chat.messages))
        imported = _with_data(url, tenant_id, lambda data: ci.import_chat(
            data, chat, parties, channel, progress=lambda n: progress.update(sending, completed=n)))
    if json_output or not is_terminal():
        print_json(imported.to_dict())
        return
    _print_pairs(f"chat imported from {file.name}", [
        ("lead", f"{imported.lead_id} ({imported.lead_name}, {imported.address})"
                 + (" new" if imported.lead_created else "")),
        ("conversation", imported.conversation_id), ("you", imported.me),
        ("messages", imported.messages), ("new", f"{imported.inserted} ({imported.inbound} in, "
                                                 f"{imported.outbound} out)"),
        ("already imported", imported.already_imported), ("system lines skipped", imported.system_lines),
    ])
