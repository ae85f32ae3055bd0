"""`salesflow demo generate`: synthetic sales history for a tenant (salesflow/analytics/generate.py).

`salesflow run --demo` is the live walk-through of one lead; this writes a year of made-up history through the
real tables and triggers, for benchmarks, the dashboard and the analytics reports.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import typer

from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, is_terminal, print_json

app = typer.Typer(help="Synthetic demo data: sales history for benchmarks, dashboards and reports.",
                  no_args_is_help=True)


@app.command()
def generate(
    tenant: str = typer.Option(..., "--tenant", help="The tenant to fill (UUID); it must exist."),
    leads: int = typer.Option(..., "--leads", help="How many leads (1 to 1,000,000); ~20 messages each."),
    days: int = typer.Option(365, "--days", help="The history covers this many days up to today (1 to 3650)."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same history (0 to 2147483647)."),
    until: str | None = typer.Option(None, "--until", help="Last day of the history, YYYY-MM-DD (default: today)."),
    json_output: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    database_url: str | None = DbUrl,
) -> None:
    """Leads, conversations, messages, sequences and enrollments, autopilot drafts, meetings, won and lost deals
    and AI usage, written through the real tables and triggers (facts, journeys and rollups included)."""
    import psycopg

    from salesflow.analytics.generate import Generated, GenerateError, GenerateSpec
    from salesflow.analytics.generate import generate as run_generate

    try:
        tenant_id = UUID(tenant)
    except ValueError:
        fail(f"--tenant: must be a UUID (got {tenant!r})")
    try:
        last_day = date.fromisoformat(until) if until else None
    except ValueError:
        fail(f"--until: must be a day YYYY-MM-DD (got {until!r})")
    spec = GenerateSpec(tenant_id, leads, days=days, seed=seed, until=last_day)
    try:
        spec.check()
    except ValueError as exc:
        fail(str(exc))
    url = database(database_url).url
    show = is_terminal() and not json_output

    def run(progress: Any) -> Generated:
        return run_generate(url, spec, progress)

    try:
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("leads · {task.fields[messages]:,} messages · {task.fields[won]:,} won"),
                          TimeElapsedColumn(), TimeRemainingColumn()) as bar:
                task = bar.add_task("generating", total=leads, messages=0, won=0)

                def advance(phase: str, done: int, total: int, totals: Generated) -> None:
                    bar.update(task, completed=done, messages=totals.messages, won=totals.won)

                result = run(advance)
        else:
            result = run(None)
    except GenerateError as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to the database: {exc}".strip(), code=1)
    if show:
        typer.echo(f"{result.leads:,} leads, {result.conversations:,} conversations, {result.messages:,} messages "
                   f"({result.touchpoints:,} touchpoints), {result.enrollments:,} enrollments, "
                   f"{result.meetings:,} meetings, {result.won:,} won, {result.lost:,} lost, "
                   f"{result.ai_usage:,} AI calls in {result.seconds:.1f} s; "
                   f"{result.events_marked_processed:,} events published and marked processed")
    else:
        print_json(result.as_json())
