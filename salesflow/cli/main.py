"""The `salesflow` command: one typer app, one sub-app per area."""

from __future__ import annotations

import typer

from salesflow.cli import ai, analytics, channels, conversations, db, dev, events, leads, listen, messages, run
from salesflow.cli import alerts as alert_commands
from salesflow.cli import autopilot as autopilot_commands
from salesflow.cli import demo as demo_commands
from salesflow.cli import functions as functions_commands
from salesflow.cli import inbox as inbox_commands
from salesflow.cli import sequences as sequence_commands

app = typer.Typer(
    name="salesflow",
    help="SalesFlow AI: Supabase-native sales automation backend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(events.app, name="events")
app.add_typer(dev.app, name="dev")
app.add_typer(ai.app, name="ai")
app.add_typer(conversations.app, name="conversations")
app.add_typer(channels.app, name="channels")
app.add_typer(analytics.app, name="analytics")
app.add_typer(demo_commands.app, name="demo")
app.add_typer(leads.app, name="leads")
app.add_typer(sequence_commands.app, name="sequences")
app.add_typer(messages.app, name="messages")
app.add_typer(inbox_commands.app, name="inbox")
app.add_typer(autopilot_commands.app, name="autopilot")
app.add_typer(alert_commands.app, name="alerts")
app.add_typer(functions_commands.app, name="functions")
app.command("listen")(listen.listen)
app.command("run")(run.run)


if __name__ == "__main__":  # pragma: no cover
    app()
