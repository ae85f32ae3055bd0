"""`salesflow autopilot settings | queue | approve | reject`: the autopilot as an operator drives it.

Straight on the database (`--database-url`, else DATABASE_URL or the local stack's), as service code: settings
rows (tenant, `--channel` or `--lead` overrides) are shown or changed with `--set key=value`; the approval
queue lists drafts waiting for a person; approve / reject go through `public.autopilot_decide`, the same SQL
the browser calls (an expired draft never sends). A rich table on a terminal, JSON with `--json` or when piped.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError

from salesflow.autopilot.settings import FIELDS, SettingsUpdate, resolve
from salesflow.cli.db import DbUrl, connect_rows
from salesflow.cli.output import fail, is_terminal, print_json, print_table
from salesflow.conversations.vocabulary import MESSAGE_CHANNELS

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="The autopilot: settings, the approval queue, approve and reject drafts.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="JSON instead of a table.")
QUEUE_COLUMNS = ["id", "tenant_id", "lead_id", "channel", "mode", "scenario", "confidence", "guards", "reasons",
                 "status", "draft", "expires_at", "created_at"]


def _uuid(value: str | None, option: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


def _connect(database_url: str | None) -> psycopg.Connection[dict[str, Any]]:
    return connect_rows(database_url, autocommit=True)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if hasattr(v, "isoformat") else
                float(v) if type(v).__name__ == "Decimal" else v) for k, v in row.items()}


def _parse_sets(pairs: list[str]) -> SettingsUpdate:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in FIELDS:
            fail(f"--set: {pair!r} must be key=value with key one of {', '.join(FIELDS)}")
        values[key] = None if value in ("", "null", "none") else value
    try:
        return SettingsUpdate.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule over several fields names its field itself
            fail(message)
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {message}")


@app.command("settings")
def settings(
    tenant: str | None = typer.Option(None, "--tenant", help="The tenant (UUID); required with --set."),
    channel: str | None = typer.Option(None, "--channel",
                                       help=f"The channel's override ({', '.join(MESSAGE_CHANNELS)})."),
    lead: str | None = typer.Option(None, "--lead", help="The lead's override (UUID)."),
    set_: list[str] = typer.Option([], "--set",
                                   help=f"key=value, keys: {', '.join(FIELDS)} (repeatable; empty clears)."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Show the settings rows (and the tenant's effective settings), or change one row with --set."""
    tenant_id, lead_id = _uuid(tenant, "--tenant"), _uuid(lead, "--lead")
    if channel is not None and channel not in MESSAGE_CHANNELS:
        fail(f"--channel: must be one of {', '.join(MESSAGE_CHANNELS)} (got {channel!r})")
    if channel is not None and lead_id is not None:
        fail("--lead: an override is for a channel or for a lead, not both")
    with _connect(database_url) as conn:
        if set_:
            if tenant_id is None:
                fail("--tenant: required with --set (which tenant's settings?)")
            update = _parse_sets(set_)
            values = update.row()
            cols = {"tenant_id": tenant_id, "channel": channel, "lead_id": lead_id, **values}
            assigns = ", ".join(f"{k} = excluded.{k}" for k in values) + ", updated_at = now()"
            import psycopg

            try:
                conn.execute(
                    f"insert into public.autopilot_settings ({', '.join(cols)}) "
                    f"values ({', '.join(['%s'] * len(cols))}) "
                    f"on conflict on constraint autopilot_settings_one_scope do update set {assigns}",
                    list(cols.values()))
            except psycopg.errors.IntegrityError as exc:
                fail(f"--set: {exc.diag.message_primary}")
        where, params = [], []
        if tenant_id is not None:
            where.append("tenant_id = %s")
            params.append(tenant_id)
        query = ("select tenant_id, channel, lead_id, " + ", ".join(FIELDS) + ", updated_at "
                 "from public.autopilot_settings" + (" where " + " and ".join(where) if where else "")
                 + " order by tenant_id, channel nulls first, lead_id nulls first")
        rows = [_jsonable(r) for r in conn.execute(query, params).fetchall()]
    tenant_rows = [r for r in rows if r["channel"] is None and r["lead_id"] is None]
    effective = {r["tenant_id"]: resolve([r]).model_dump(mode="json") for r in tenant_rows}
    if json_output or not is_terminal():
        print_json({"rows": rows, "effective": effective})
        return
    print_table(["tenant", "scope", *FIELDS],
                [[r["tenant_id"], f"channel {r['channel']}" if r["channel"] else f"lead {r['lead_id']}" if r["lead_id"]
                  else "tenant", *(r[f] for f in FIELDS)] for r in rows])


@app.command("queue")
def queue(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's drafts (UUID)."),
    include_failed: bool = typer.Option(False, "--failed", help="Also the messages the AI failed on."),
    limit: int = typer.Option(50, "--limit", help="At most this many (1-1000), oldest first."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Drafts waiting for a person (not yet expired), oldest first."""
    if not 1 <= limit <= 1000:
        fail(f"--limit: must be between 1 and 1000 (got {limit})")
    statuses = ["queued_for_approval", "failed"] if include_failed else ["queued_for_approval"]
    with _connect(database_url) as conn:
        rows = conn.execute(
            f"select {', '.join(QUEUE_COLUMNS)} from public.autopilot_actions "
            "where status = any(%s) and (status = 'failed' or expires_at > now()) "
            "and (%s::uuid is null or tenant_id = %s::uuid) order by created_at limit %s",
            (statuses, _uuid(tenant, "--tenant"), _uuid(tenant, "--tenant"), limit)).fetchall()
    drafts = [_jsonable(r) for r in rows]
    if json_output or not is_terminal():
        print_json(drafts)
        return
    print_table(["id", "lead", "channel", "mode", "confidence", "guards", "draft", "expires"],
                [[d["id"], d["lead_id"], d["channel"], d["mode"], d["confidence"], ", ".join(d["guards"]),
                  d["draft"], d["expires_at"]] for d in drafts])


def _decide(action_id: str, verdict: str, text: str | None, database_url: str | None, json_output: bool) -> None:
    import psycopg

    action = _uuid(action_id, "ID")
    with _connect(database_url) as conn:
        found = conn.execute("select tenant_id from public.autopilot_actions where id = %s", (action,)).fetchone()
        if found is None:
            fail(f"ID: no autopilot draft {action_id}")
        try:
            row = conn.execute("select public.autopilot_decide(%s, %s, %s, %s) as action",
                               (action, verdict, text, found["tenant_id"])).fetchone()
        except psycopg.Error as exc:
            fail(str(exc.diag.message_primary or exc).replace("autopilot_decide.p_action_id", "ID")
                 .replace("autopilot_decide.p_text", "--text"))
    assert row is not None
    result = row["action"]
    if json_output or not is_terminal():
        print_json(result)
    else:
        typer.echo(f"draft {result['id']}: {result['status']}"
                   + (f", message {result['message_id']} queued" if result.get("message_id") else ""))
    if result["status"] == "expired":
        fail(f"ID: draft {action_id} expired at {result['expires_at']}; nothing was sent", code=1)


@app.command("approve")
def approve(
    action_id: str = typer.Argument(..., metavar="ID", help="The draft (autopilot action id)."),
    text: str | None = typer.Option(None, "--text", help="Send this text instead of the draft (an edit)."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Approve a draft (or send an edit of it with --text): its message is queued for the send job."""
    _decide(action_id, "edited" if text is not None else "approved", text, database_url, json_output)


@app.command("reject")
def reject(
    action_id: str = typer.Argument(..., metavar="ID", help="The draft (autopilot action id)."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Reject a draft: nothing is sent."""
    _decide(action_id, "rejected", None, database_url, json_output)
