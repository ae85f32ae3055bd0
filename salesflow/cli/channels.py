"""`salesflow channels`: connect a channel, list connections (never their secrets), test credentials.

The operator's path: through the database login of DATABASE_URL (or --database-url), as the other commands.
`connect` validates everything before writing (the provider serves the channel, the address in normal form,
the provider's secret keys) and stores through `public.connect_channel`; `list` shows whether a connection
has credentials and their key names via `public.channel_credentials_state`, never a value; `test` proves the
credentials against the provider without sending anything.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from salesflow.cli.db import DbUrl, connect_rows
from salesflow.cli.output import fail, is_terminal, print_json, print_table
from salesflow.conversations.vocabulary import CHANNEL_PROVIDERS, MESSAGE_CHANNELS

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Channel connections: connect, list, test.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
LIST_COLUMNS = ("id", "tenant_id", "channel", "provider", "address", "external_account_id", "display_name",
                "status", "has_credentials", "secret_keys", "created_at")


def _uuid(value: str, option: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


def _connect(database_url: str | None) -> psycopg.Connection[dict[str, Any]]:
    return connect_rows(database_url)


def _secret_pairs(pairs: list[str]) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--secret: {pair.split('=')[0]!r} must be key=value (e.g. --secret access_token=EAAG...)")
        secrets[key.strip()] = value
    return secrets


def _secrets_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--secrets-file: cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        fail(f"--secrets-file: {path} is not valid JSON ({exc})")
    if not isinstance(data, dict):
        fail(f"--secrets-file: {path} must hold a JSON object of key names to values")
    return data


@app.command("connect")
def connect(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    channel: str = typer.Option(..., "--channel", help=f"One of {', '.join(MESSAGE_CHANNELS)}."),
    provider: str = typer.Option(..., "--provider", help=f"One of {', '.join(CHANNEL_PROVIDERS)}."),
    address: str = typer.Option(..., "--address", help="The receiving number (E.164), email address or account id."),
    account_id: str | None = typer.Option(None, "--account-id",
                                          help="Provider account id (WhatsApp phone_number_id, Instagram account)."),
    name: str | None = typer.Option(None, "--name", help="A display name."),
    secret: list[str] = typer.Option([], "--secret", help="A credential as key=value; repeat for each key."),
    secrets_file: Path | None = typer.Option(None, "--secrets-file",
                                             help="A JSON object of credentials (keeps them out of shell history); "
                                                  "--secret values override its keys."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Connect (or reconnect) a channel of a tenant with its provider credentials."""
    from salesflow.channels import CredentialsError, check_provider_serves, normalise_address
    from salesflow.channels.credentials import secrets_to_store

    tenant_id = _uuid(tenant, "--tenant")
    try:
        check_provider_serves(provider, channel)
    except ValueError as exc:
        fail(f"--{exc}")
    try:
        normalised = normalise_address(channel, address)
    except ValueError as exc:
        fail(f"--address: {exc}")
    if provider == "whatsapp_cloud" and not account_id:
        fail("--account-id: required for whatsapp_cloud (the WhatsApp phone_number_id)")
    given: dict[str, Any] = _secrets_file(secrets_file) if secrets_file else {}
    given.update(_secret_pairs(secret))
    try:
        stored = secrets_to_store(provider, given)
    except CredentialsError as exc:
        fail(f"--secret: {exc}")

    import psycopg
    from psycopg.types.json import Jsonb

    with _connect(database_url) as conn:
        try:
            row = conn.execute(
                "select public.connect_channel(p_channel => %s, p_provider => %s, p_address => %s, "
                "p_external_account_id => %s, p_display_name => %s, p_secrets => %s, p_tenant_id => %s) as id",
                (channel, provider, normalised, account_id, name, Jsonb(stored), tenant_id),
            ).fetchone()
            conn.commit()
        except psycopg.Error as exc:
            message = exc.diag.message_primary or str(exc)
            field = exc.diag.column_name
            fail(message if not field else message.replace(f"connect_channel.{field}", f"--{field[2:]}"))
    assert row is not None
    if json_output:
        print_json({"id": row["id"], "channel": channel, "provider": provider, "address": normalised,
                    "secret_keys": sorted(stored)})
        return
    typer.echo(row["id"])


@app.command("list")
def list_connections(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Every channel connection, whether it has credentials and their key names (never a value)."""
    tenant_id = _uuid(tenant, "--tenant") if tenant else None
    with _connect(database_url) as conn:
        rows = conn.execute(
            "select c.id, c.tenant_id, c.channel::text as channel, c.provider::text as provider, c.address, "
            "c.external_account_id, c.display_name, c.status, s.has_credentials, s.secret_keys, c.created_at "
            "from public.channel_credentials_state(%s) s join public.channel_connections c on c.id = s.connection_id "
            "order by c.tenant_id, c.channel, c.created_at",
            (tenant_id,),
        ).fetchall()
    if json_output:
        print_json([{k: r[k] for k in LIST_COLUMNS} for r in rows])
        return
    headers = ["id", "tenant", "channel", "provider", "address", "account", "name", "status", "credentials"]
    cells = [[str(r["id"]), str(r["tenant_id"])[:8], r["channel"], r["provider"], r["address"],
              r["external_account_id"] or "", r["display_name"] or "", r["status"],
              ", ".join(r["secret_keys"]) if r["has_credentials"] else "none"] for r in rows]
    if not is_terminal():
        print_table(headers, cells)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Channel connections ({len(rows)})")
    for header in headers:
        table.add_column(header)
    for cell in cells:
        table.add_row(*cell)
    Console().print(table)


@app.command("test")
def test_connection(
    connection_id: str = typer.Argument(..., metavar="CONNECTION_ID"),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Verify a connection's credentials at its provider without sending anything (exit 1 when they fail)."""
    from salesflow.channels import SendError, VerifiableAdapter, build_adapter_for_connection

    conn_id = _uuid(connection_id, "CONNECTION_ID")
    with _connect(database_url) as conn:
        row = conn.execute(
            "select c.id, c.channel::text as channel, c.provider::text as provider, c.address, c.external_account_id, "
            "coalesce(k.secrets, '{}'::jsonb) as secrets from public.channel_connections c "
            "left join private.channel_credentials k on k.connection_id = c.id and k.tenant_id = c.tenant_id "
            "where c.id = %s", (conn_id,),
        ).fetchone()
    if row is None:
        fail(f"CONNECTION_ID: no channel connection with id {conn_id}")

    def report(ok: bool, detail: str, code: str | None = None) -> None:
        if json_output:
            print_json({"id": conn_id, "channel": row["channel"], "provider": row["provider"], "ok": ok,
                        "code": code, "detail": detail})
        else:
            typer.echo(f"ok: {detail}" if ok else f"failed: {code}: {detail}", err=not ok)
        if not ok:
            raise typer.Exit(1)

    try:
        adapter = build_adapter_for_connection(row, row["secrets"])
    except ValueError as exc:
        report(False, str(exc), "credentials_invalid")
        return
    if not isinstance(adapter, VerifiableAdapter):  # pragma: no cover - every adapter verifies
        report(False, f"{row['provider']} cannot be verified", "not_verifiable")
        return
    try:
        detail = asyncio.run(adapter.verify())
    except SendError as exc:
        report(False, exc.reason, exc.code)
        return
    report(True, detail)
