"""`salesflow sequences`: create a sequence from YAML, list, show (with the next sends on the leads' clocks),
enroll leads, pause / resume / stop a sequence or one lead's enrollment.

The operator's path: through the database login of DATABASE_URL (or --database-url), as the other commands;
enrolling and changing enrollments go through the same SQL functions the browser calls
(`public.enroll_leads`, `public.set_enrollment_state`), naming the sequence's tenant. A YAML file is validated
with `salesflow.sequences.models.SequenceSpec` before anything is written; a bad field exits 2 naming it
(`error: steps.2.template: unknown placeholder {{vorname}}; known: ...`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from salesflow.cli.db import DbUrl, connect_rows
from salesflow.cli.output import fail, is_terminal, print_json, print_table

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Follow-up sequences: create, list, show, enroll, pause, resume, stop.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
SEQUENCE_COLUMNS = ("id", "tenant_id", "name", "status", "send_days", "send_from", "send_until", "timezone",
                    "holiday_country", "holiday_subdivision", "daily_cap_tenant", "daily_cap_sender", "on_reply",
                    "created_at")


def _uuid(value: str, option: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


def _connect(database_url: str | None) -> psycopg.Connection[dict[str, Any]]:
    return connect_rows(database_url)


def _table(title: str, headers: list[str], cells: list[list[str]]) -> None:
    if not is_terminal():
        print_table(headers, cells)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header)
    for cell in cells:
        table.add_row(*cell)
    Console().print(table)


def _sequence(conn: psycopg.Connection[dict[str, Any]], sequence_id: str) -> dict[str, Any]:
    row = conn.execute("select * from public.sequences where id = %s", (sequence_id,)).fetchone()
    if row is None:
        fail(f"ID: there is no sequence {sequence_id}")
    return dict(row)


@app.command("create")
def create(
    file: Path = typer.Argument(..., metavar="FILE.yaml", help="The sequence definition (see docs in the module)."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Create a sequence and its steps from a YAML file (validated first; nothing is written on an error)."""
    import yaml
    from pydantic import ValidationError

    from salesflow.sequences.models import SequenceSpec, describe_error

    tenant_id = _uuid(tenant, "--tenant")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"FILE: cannot read {file}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"FILE: {file} is not valid YAML ({str(exc).splitlines()[0]})")
    if not isinstance(raw, dict):
        fail(f"FILE: {file} must hold a mapping with name, steps, ... (got {type(raw).__name__})")
    try:
        spec = SequenceSpec.model_validate(raw)
    except ValidationError as exc:
        fail(describe_error(exc))
    except ValueError as exc:
        fail(str(exc))
    row = spec.sequence_row()
    with _connect(database_url) as conn:
        cols = ["tenant_id", *row]
        created = conn.execute(
            f"insert into public.sequences ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) returning id",
            [tenant_id, *row.values()]).fetchone()
        assert created is not None
        for step in spec.step_rows():
            scols = ["tenant_id", "sequence_id", *step]
            conn.execute(f"insert into public.sequence_steps ({', '.join(scols)}) "
                         f"values ({', '.join(['%s'] * len(scols))})", [tenant_id, created["id"], *step.values()])
    result = {"id": str(created["id"]), "name": spec.name, "steps": len(spec.steps)}
    if json_output:
        print_json(result)
    else:
        typer.echo(f"created sequence {result['id']} ({spec.name}, {len(spec.steps)} steps)")


@app.command("list")
def list_sequences(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's sequences."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Every sequence with its status and how many enrollments are active."""
    tenant_id = _uuid(tenant, "--tenant") if tenant else None
    with _connect(database_url) as conn:
        rows = conn.execute(
            "select s.*, (select count(*) from public.sequence_steps st where st.sequence_id = s.id) as steps, "
            "(select count(*) from public.sequence_enrollments e where e.sequence_id = s.id and e.state = 'active') "
            "as active from public.sequences s where %s::uuid is null or s.tenant_id = %s order by s.created_at",
            (tenant_id, tenant_id)).fetchall()
    if json_output:
        print_json([{**{k: r[k] for k in SEQUENCE_COLUMNS}, "steps": r["steps"], "active": r["active"]} for r in rows])
        return
    _table(f"Sequences ({len(rows)})", ["id", "tenant", "name", "status", "steps", "active", "time zone"],
           [[str(r["id"]), str(r["tenant_id"])[:8], r["name"], r["status"], str(r["steps"]), str(r["active"]),
             r["timezone"]] for r in rows])


@app.command("show")
def show(
    sequence_id: str = typer.Argument(..., metavar="ID"),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many upcoming sends to list."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """A sequence: its window, steps, enrollments by state and the next sends with the leads' local times."""
    sid = _uuid(sequence_id, "ID")
    with _connect(database_url) as conn:
        seq = _sequence(conn, sid)
        steps = conn.execute("select position, kind, channel::text as channel, template, task, delay_hours, "
                             "delay_business_days, condition from public.sequence_steps where sequence_id = %s "
                             "order by position", (sid,)).fetchall()
        states = conn.execute("select state, count(*) as n from public.sequence_enrollments where sequence_id = %s "
                              "group by state order by state", (sid,)).fetchall()
        upcoming = conn.execute("select * from public.preview_sequence_sends(%s, %s)", (sid, limit)).fetchall()
    doc = {**{k: seq[k] for k in SEQUENCE_COLUMNS}, "steps": [dict(s) for s in steps],
           "enrollments": {r["state"]: r["n"] for r in states}, "next_sends": [dict(u) for u in upcoming]}
    if json_output:
        print_json(doc)
        return
    days = ",".join(str(d) for d in seq["send_days"])
    typer.echo(f"{seq['name']} ({seq['status']}): days {days} {seq['send_from']}-{seq['send_until']} "
               f"{seq['timezone']}, holidays {seq['holiday_country'] or 'none'}, caps tenant "
               f"{seq['daily_cap_tenant'] or '-'} / sender {seq['daily_cap_sender'] or '-'}, "
               f"on reply {seq['on_reply']}")
    _table("Steps", ["#", "kind", "channel", "delay", "condition", "text"],
           [[str(s["position"]), s["kind"], s["channel"] or "", f"{s['delay_business_days']} bd" if
             s["delay_business_days"] else f"{s['delay_hours']} h", s["condition"],
             (s["template"] or s["task"] or "(AI)")[:60]] for s in steps])
    typer.echo("enrollments: " + (", ".join(f"{r['state']} {r['n']}" for r in states) or "none"))
    _table("Next sends", ["lead", "step", "channel", "due (UTC)", "local time", "time zone"],
           [[str(u["lead_name"]), str(u["step"]), u["channel"] or "", str(u["due_at"]), str(u["local_due_at"]),
             u["time_zone"]] for u in upcoming])


@app.command("enroll")
def enroll(
    sequence_id: str = typer.Argument(..., metavar="ID"),
    lead: list[str] = typer.Option(..., "--lead", help="A lead id; repeat for more."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Enroll leads in a sequence (one call, set-based); skipped leads are counted by reason."""
    sid = _uuid(sequence_id, "ID")
    leads = [_uuid(v, "--lead") for v in lead]
    import psycopg

    with _connect(database_url) as conn:
        seq = _sequence(conn, sid)
        try:
            row = conn.execute("select public.enroll_leads(%s, %s::uuid[], %s) as r",
                               (sid, leads, seq["tenant_id"])).fetchone()
        except psycopg.errors.RaiseException as exc:
            fail(str(exc.diag.message_primary or exc).replace("enroll_leads.p_sequence_id", "ID"))
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.NoDataFound) as exc:
            fail(str(exc.diag.message_primary or exc).replace("enroll_leads.p_sequence_id", "ID"))
    assert row is not None
    result = row["r"]
    if json_output:
        print_json(result)
        return
    skipped = ", ".join(f"{k} {v}" for k, v in result["skipped"].items()) or "none"
    typer.echo(f"enrolled {result['enrolled']}; skipped: {skipped}")


def _change(sequence_id: str, leads: list[str], action: str, sequence_status: str, reason: str | None,
            json_output: bool, database_url: str | None) -> None:
    sid = _uuid(sequence_id, "ID")
    lead_ids = [_uuid(v, "--lead") for v in leads]
    with _connect(database_url) as conn:
        seq = _sequence(conn, sid)
        if lead_ids:
            ids = [r["id"] for r in conn.execute(
                "select id from public.sequence_enrollments where sequence_id = %s and lead_id = any(%s::uuid[]) "
                "and state in ('active', 'paused')", (sid, lead_ids)).fetchall()]
            row = conn.execute("select public.set_enrollment_state(%s, %s::uuid[], null, %s, %s) as n",
                               (action, ids, reason, seq["tenant_id"])).fetchone()
            assert row is not None
            result: dict[str, Any] = {"sequence_id": sid, "action": action, "enrollments_changed": row["n"]}
        else:
            if seq["status"] == "archived":
                fail(f"ID: sequence {sid} is archived; it cannot be {action}d")
            conn.execute("update public.sequences set status = %s where id = %s", (sequence_status, sid))
            result = {"sequence_id": sid, "action": action, "status": sequence_status}
    if json_output:
        print_json(result)
    elif lead_ids:
        typer.echo(f"{action}: {result['enrollments_changed']} enrollment(s) of sequence {sid}")
    else:
        typer.echo(f"sequence {sid} is {sequence_status}")


LeadOpt = typer.Option([], "--lead", help="Only this lead's enrollment (repeatable); default: the whole sequence.")


@app.command("pause")
def pause(sequence_id: str = typer.Argument(..., metavar="ID"), lead: list[str] = LeadOpt,
          json_output: bool = JsonOpt, database_url: str | None = DbUrl) -> None:
    """Pause a sequence (due steps wait) or, with --lead, those leads' enrollments."""
    _change(sequence_id, lead, "pause", "paused", None, json_output, database_url)


@app.command("resume")
def resume(sequence_id: str = typer.Argument(..., metavar="ID"), lead: list[str] = LeadOpt,
           json_output: bool = JsonOpt, database_url: str | None = DbUrl) -> None:
    """Resume a paused sequence (its steps are planned again) or, with --lead, those leads' enrollments."""
    _change(sequence_id, lead, "resume", "active", None, json_output, database_url)


@app.command("stop")
def stop(sequence_id: str = typer.Argument(..., metavar="ID"), lead: list[str] = LeadOpt,
         reason: str | None = typer.Option(None, "--reason", help="Why (recorded as the stop reason)."),
         json_output: bool = JsonOpt, database_url: str | None = DbUrl) -> None:
    """Stop a sequence for good (archived; every enrollment stops) or, with --lead, those leads' enrollments."""
    _change(sequence_id, lead, "stop", "archived", reason, json_output, database_url)
