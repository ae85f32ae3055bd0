"""`salesflow alerts list | rules | targets | test TARGET | evaluate`: alerting as an operator drives it.

Straight on the database (`--database-url`, else DATABASE_URL or the local stack's), as service code:
- `list` shows firing and resolved alerts (`--status`, `--tenant`);
- `rules` lists a tenant's rules; `rules add | set | enable | disable | remove` manage them (checked here with
  salesflow.alerts.rules.RuleInput and again by the database; bad input exits 2 naming the option);
- `targets` lists notification targets; `targets add | remove | secret` manage them (a webhook target gets a
  `whsec_` signing secret, shown once on add and by `targets secret`);
- `test TARGET` sends a test notification to one target now (recorded in alert_notifications);
- `evaluate` runs one evaluation now and sends what is due (for cron, or when no listener runs).
A table on a terminal, JSON with `--json` or when piped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import uuid
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError

from salesflow.alerts.rules import METRICS, SEVERITIES, TARGET_KINDS, THRESHOLD_UNITS, RuleInput
from salesflow.cli.db import DbUrl, connect_rows
from salesflow.cli.output import fail, is_terminal, print_json, print_table

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Alerting: alerts, rules, notification targets, test sends.", no_args_is_help=True)
rules_app = typer.Typer(help="A tenant's alert rules (lists them without a subcommand).")
targets_app = typer.Typer(help="A tenant's notification targets (lists them without a subcommand).")
app.add_typer(rules_app, name="rules")
app.add_typer(targets_app, name="targets")

JsonOpt = typer.Option(False, "--json", help="JSON instead of a table.")
TenantOpt = typer.Option(None, "--tenant", help="The tenant (UUID).")
ALERT_COLUMNS = ["id", "tenant_id", "status", "severity", "metric", "dedup_key", "summary", "count",
                 "first_seen_at", "last_seen_at", "resolved_at", "event_ids"]
RULE_COLUMNS = ["id", "tenant_id", "name", "metric", "window_seconds", "threshold", "min_count", "cooldown_seconds",
                "severity", "enabled"]
TARGET_COLUMNS = ["id", "tenant_id", "name", "kind", "url", "email", "min_severity", "enabled"]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _uuid(value: str | None, option: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a UUID")


def _tenant(value: str | None) -> uuid.UUID:
    tenant = _uuid(value, "--tenant")
    if tenant is None:
        fail("--tenant: required (the tenant's UUID)")
    return tenant


def seconds(value: str | None, option: str) -> int | None:
    """'900', '15m', '2h', '1d' as seconds; exit 2 naming the option otherwise (a negative value included)."""
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if not match:
        fail(f"{option}: {value!r} is not a duration >= 0 (seconds, or a number with s, m, h or d)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _connect(database_url: str | None) -> psycopg.Connection[dict[str, Any]]:
    return connect_rows(database_url, autocommit=True)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    def one(v: Any) -> Any:
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, list):
            return [one(x) for x in v]
        if hasattr(v, "isoformat"):
            return v.isoformat()
        if type(v).__name__ == "Decimal":
            return float(v)
        return v

    return {k: one(v) for k, v in row.items()}


def _show(rows: list[dict[str, Any]], columns: list[str], json_output: bool) -> None:
    data = [_jsonable(r) for r in rows]
    if json_output or not is_terminal():
        print_json(data)
    else:
        print_table(columns, [[r.get(c) for c in columns] for r in data])


def _database_error(exc: Exception) -> NoReturn:
    """A refusal of the database (22023 names the field; 23505 a duplicate name) as exit 2."""
    import psycopg

    if isinstance(exc, psycopg.errors.UniqueViolation):
        fail("name: a rule or target of this name exists already for the tenant")
    if isinstance(exc, psycopg.Error) and getattr(exc, "sqlstate", None) in ("22023", "23514", "23503"):
        diag = exc.diag.message_primary if exc.diag else str(exc)
        fail(str(diag))
    raise exc


def _validated(values: dict[str, Any]) -> RuleInput:
    try:
        return RuleInput.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            field, _, rest = message.partition(": ")
            fail(f"--{field.replace('_seconds', '').replace('_', '-')} ({field}): {rest}")
        field = str(first["loc"][0])
        allowed = {"metric": f" (allowed: {', '.join(METRICS)})", "severity": f" (allowed: {', '.join(SEVERITIES)})"}
        fail(f"--{field.replace('_seconds', '').replace('_', '-')} ({field}): {message}{allowed.get(field, '')}")


# -- alerts ----------------------------------------------------------------------------------------------------


@app.command("list")
def list_alerts(
    tenant: str | None = TenantOpt,
    status: str = typer.Option("all", "--status", help="firing, resolved or all."),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first (1-1000)."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Firing and resolved alerts, newest first."""
    tenant_id = _uuid(tenant, "--tenant")
    if status not in ("firing", "resolved", "all"):
        fail(f"--status: must be firing, resolved or all (got {status!r})")
    if not 1 <= limit <= 1000:
        fail(f"--limit: must be between 1 and 1000 (got {limit})")
    with _connect(database_url) as conn:
        rows = conn.execute(
            f"select {', '.join(ALERT_COLUMNS)} from public.alerts"
            " where (%(t)s::uuid is null or tenant_id = %(t)s) and (%(s)s = 'all' or status = %(s)s)"
            " order by (status = 'firing') desc, last_seen_at desc limit %(l)s",
            {"t": tenant_id, "s": status, "l": limit}).fetchall()
    _show(rows, ALERT_COLUMNS, json_output)


# -- rules -----------------------------------------------------------------------------------------------------


@rules_app.callback(invoke_without_command=True)
def rules(ctx: typer.Context, tenant: str | None = TenantOpt, database_url: str | None = DbUrl,
          json_output: bool = JsonOpt) -> None:
    """List the alert rules (of one tenant with --tenant)."""
    if ctx.invoked_subcommand is not None:
        return
    tenant_id = _uuid(tenant, "--tenant")
    with _connect(database_url) as conn:
        rows = conn.execute(f"select {', '.join(RULE_COLUMNS)} from public.alert_rules"
                            " where %(t)s::uuid is null or tenant_id = %(t)s order by tenant_id, name",
                            {"t": tenant_id}).fetchall()
    _show(rows, RULE_COLUMNS, json_output)


@rules_app.command("add")
def rules_add(
    name: str = typer.Argument(..., help="The rule's name (unique per tenant)."),
    tenant: str | None = TenantOpt,
    metric: str = typer.Option(..., "--metric", help=f"One of: {', '.join(METRICS)}."),
    window: str | None = typer.Option(None, "--window", help="The window (900, 15m, 1h); counting metrics need it."),
    threshold: float = typer.Option(..., "--threshold",
                                    help="; ".join(f"{k}: {v}" for k, v in THRESHOLD_UNITS.items())),
    min_count: int = typer.Option(1, "--min-count", help="Rates: at least this many in the window."),
    cooldown: str = typer.Option("1h", "--cooldown", help="No re-notification of a firing alert within this."),
    severity: str = typer.Option("warning", "--severity", help=f"One of: {', '.join(SEVERITIES)}."),
    disabled: bool = typer.Option(False, "--disabled", help="Add it switched off."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Add an alert rule to a tenant."""
    tenant_id = _tenant(tenant)
    rule = _validated({"name": name, "metric": metric, "window_seconds": seconds(window, "--window") or 0,
                       "threshold": threshold, "min_count": min_count,
                       "cooldown_seconds": seconds(cooldown, "--cooldown"),
                       "severity": severity, "enabled": not disabled})
    with _connect(database_url) as conn:
        try:
            row = conn.execute(
                f"insert into public.alert_rules (tenant_id, name, metric, window_seconds, threshold, min_count,"
                f" cooldown_seconds, severity, enabled) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                f" returning {', '.join(RULE_COLUMNS)}",
                (tenant_id, rule.name, rule.metric, rule.window_seconds, rule.threshold, rule.min_count,
                 rule.cooldown_seconds, rule.severity, rule.enabled)).fetchone()
        except Exception as exc:
            _database_error(exc)
    _show([row] if row else [], RULE_COLUMNS, json_output)


def _change_rule(database_url: str | None, tenant: str | None, name: str, changes: dict[str, Any],
                 json_output: bool) -> None:
    tenant_id = _tenant(tenant)
    with _connect(database_url) as conn:
        current = conn.execute(f"select {', '.join(RULE_COLUMNS)} from public.alert_rules"
                               " where tenant_id = %s and name = %s", (tenant_id, name)).fetchone()
        if current is None:
            fail(f"NAME: the tenant has no alert rule {name!r} (see `salesflow alerts rules --tenant {tenant_id}`)")
        merged = {k: current[k] for k in RuleInput.model_fields} | {k: v for k, v in changes.items() if v is not None}
        merged["threshold"] = float(merged["threshold"])
        rule = _validated(merged)
        try:
            row = conn.execute(
                f"update public.alert_rules set window_seconds = %s, threshold = %s, min_count = %s,"
                f" cooldown_seconds = %s, severity = %s, enabled = %s where id = %s"
                f" returning {', '.join(RULE_COLUMNS)}",
                (rule.window_seconds, rule.threshold, rule.min_count, rule.cooldown_seconds, rule.severity,
                 rule.enabled, current["id"])).fetchone()
        except Exception as exc:
            _database_error(exc)
    _show([row] if row else [], RULE_COLUMNS, json_output)


@rules_app.command("set")
def rules_set(
    name: str = typer.Argument(..., help="The rule's name."),
    tenant: str | None = TenantOpt,
    window: str | None = typer.Option(None, "--window", help="The window (900, 15m, 1h)."),
    threshold: float | None = typer.Option(None, "--threshold", help="The threshold (see `rules add --help`)."),
    min_count: int | None = typer.Option(None, "--min-count", help="Rates: at least this many in the window."),
    cooldown: str | None = typer.Option(None, "--cooldown", help="No re-notification within this."),
    severity: str | None = typer.Option(None, "--severity", help=f"One of: {', '.join(SEVERITIES)}."),
    enabled: bool | None = typer.Option(None, "--enable/--disable", help="Switch the rule on or off."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Change an alert rule (only the options given)."""
    _change_rule(database_url, tenant, name, {
        "window_seconds": seconds(window, "--window"), "threshold": threshold, "min_count": min_count,
        "cooldown_seconds": seconds(cooldown, "--cooldown"), "severity": severity, "enabled": enabled}, json_output)


@rules_app.command("enable")
def rules_enable(name: str = typer.Argument(...), tenant: str | None = TenantOpt, database_url: str | None = DbUrl,
                 json_output: bool = JsonOpt) -> None:
    """Switch a rule on."""
    _change_rule(database_url, tenant, name, {"enabled": True}, json_output)


@rules_app.command("disable")
def rules_disable(name: str = typer.Argument(...), tenant: str | None = TenantOpt, database_url: str | None = DbUrl,
                  json_output: bool = JsonOpt) -> None:
    """Switch a rule off (its firing alerts resolve at the next evaluation)."""
    _change_rule(database_url, tenant, name, {"enabled": False}, json_output)


@rules_app.command("remove")
def rules_remove(name: str = typer.Argument(...), tenant: str | None = TenantOpt,
                 database_url: str | None = DbUrl) -> None:
    """Delete a rule (its alerts stay, without the rule)."""
    tenant_id = _tenant(tenant)
    with _connect(database_url) as conn:
        row = conn.execute("delete from public.alert_rules where tenant_id = %s and name = %s returning id",
                           (tenant_id, name)).fetchone()
    if row is None:
        fail(f"NAME: the tenant has no alert rule {name!r}")
    typer.echo(f"removed rule {name}")


# -- targets ---------------------------------------------------------------------------------------------------


@targets_app.callback(invoke_without_command=True)
def targets(ctx: typer.Context, tenant: str | None = TenantOpt, database_url: str | None = DbUrl,
            json_output: bool = JsonOpt) -> None:
    """List the notification targets (of one tenant with --tenant)."""
    if ctx.invoked_subcommand is not None:
        return
    tenant_id = _uuid(tenant, "--tenant")
    with _connect(database_url) as conn:
        rows = conn.execute(f"select {', '.join(TARGET_COLUMNS)} from public.notification_targets"
                            " where %(t)s::uuid is null or tenant_id = %(t)s order by tenant_id, name",
                            {"t": tenant_id}).fetchall()
    _show(rows, TARGET_COLUMNS, json_output)


@targets_app.command("add")
def targets_add(
    name: str = typer.Argument(..., help="The target's name (unique per tenant)."),
    tenant: str | None = TenantOpt,
    kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(TARGET_KINDS)}."),
    url: str | None = typer.Option(None, "--url", help="webhook: where to POST (http or https)."),
    email: str | None = typer.Option(None, "--email", help="email: the address to send to."),
    min_severity: str = typer.Option("info", "--min-severity",
                                     help=f"Only alerts at least this severe ({', '.join(SEVERITIES)})."),
    secret: str | None = typer.Option(None, "--secret", help="webhook: a whsec_<base64> secret (default: a new one)."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Add a notification target; a webhook target's signing secret is printed once (see `targets secret`)."""
    tenant_id = _tenant(tenant)
    if kind not in TARGET_KINDS:
        fail(f"--kind: must be one of {', '.join(TARGET_KINDS)} (got {kind!r})")
    if kind == "webhook" and not (url and re.match(r"^https?://\S+$", url)):
        fail(f"--url: a webhook target needs an http(s) URL (got {url!r})")
    if kind != "webhook" and (url or secret):
        fail("--url/--secret: only a webhook target has a URL and a secret")
    if kind == "email" and not (email and re.match(r"^[^@\s]+@[^@\s]+$", email)):
        fail(f"--email: an email target needs an address (got {email!r})")
    if kind != "email" and email:
        fail("--email: only an email target has an address")
    if min_severity not in SEVERITIES:
        fail(f"--min-severity: must be one of {', '.join(SEVERITIES)} (got {min_severity!r})")
    if secret is not None and not re.match(r"^whsec_[A-Za-z0-9+/]+={0,2}$", secret):
        fail("--secret: must be whsec_ followed by base64 (the Standard Webhooks secret format)")
    with _connect(database_url) as conn:
        try:
            with conn.transaction():
                row = conn.execute(
                    f"insert into public.notification_targets (tenant_id, name, kind, url, email, min_severity)"
                    f" values (%s, %s, %s, %s, %s, %s) returning {', '.join(TARGET_COLUMNS)}",
                    (tenant_id, name, kind, url, email, min_severity)).fetchone()
                assert row is not None
                if secret is not None:
                    conn.execute("update private.notification_target_secrets set secret = %s, updated_at = now()"
                                 " where target_id = %s", (secret, row["id"]))
        except Exception as exc:
            _database_error(exc)
        shown = dict(row)
        if kind == "webhook":
            found = conn.execute("select public.notification_target_secret(%s) as s", (row["id"],)).fetchone()
            shown["secret"] = found["s"] if found else None
    _show([shown], TARGET_COLUMNS + (["secret"] if kind == "webhook" else []), json_output)


def _target(conn: psycopg.Connection[dict[str, Any]], tenant_id: uuid.UUID, target: str) -> dict[str, Any]:
    ident = None
    with contextlib.suppress(ValueError):
        ident = uuid.UUID(target)
    row = conn.execute(f"select {', '.join(TARGET_COLUMNS)} from public.notification_targets"
                       " where tenant_id = %s and (name = %s or id = %s)", (tenant_id, target, ident)).fetchone()
    if row is None:
        fail(f"TARGET: the tenant has no notification target {target!r} "
             f"(see `salesflow alerts targets --tenant {tenant_id}`)")
    return dict(row)


@targets_app.command("remove")
def targets_remove(target: str = typer.Argument(..., help="The target's name or id."), tenant: str | None = TenantOpt,
                   database_url: str | None = DbUrl) -> None:
    """Delete a target (and its secret and send records)."""
    tenant_id = _tenant(tenant)
    with _connect(database_url) as conn:
        row = _target(conn, tenant_id, target)
        conn.execute("delete from public.notification_targets where id = %s", (row["id"],))
    typer.echo(f"removed target {row['name']}")


@targets_app.command("secret")
def targets_secret(target: str = typer.Argument(..., help="The webhook target's name or id."),
                   tenant: str | None = TenantOpt, database_url: str | None = DbUrl) -> None:
    """Print a webhook target's signing secret (for the receiver's Standard Webhooks verification)."""
    tenant_id = _tenant(tenant)
    with _connect(database_url) as conn:
        row = _target(conn, tenant_id, target)
        if row["kind"] != "webhook":
            fail(f"TARGET: {row['name']} is a {row['kind']} target; only webhook targets have a secret")
        found = conn.execute("select public.notification_target_secret(%s) as s", (row["id"],)).fetchone()
    typer.echo(found["s"] if found else "")


# -- test and evaluate -----------------------------------------------------------------------------------------


@app.command("test")
def test_target(
    target: str = typer.Argument(..., help="The target's name or id."),
    tenant: str | None = TenantOpt,
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Send a test notification to one target now; exit 1 when it could not be delivered."""
    from salesflow.alerts.notifiers import Notification, Target, send
    from salesflow.alerts.notifiers.dashboard import INSERT_TEST_ALERT, TEST_SUMMARY
    from salesflow.alerts.settings import AlertSettings

    tenant_id = _tenant(tenant)
    try:
        settings = AlertSettings.from_env()
    except ValueError as exc:
        fail(str(exc))
    with _connect(database_url) as conn:
        row = _target(conn, tenant_id, target)
        if row["kind"] == "dashboard":
            alert = conn.execute(INSERT_TEST_ALERT, (tenant_id, row["name"], TEST_SUMMARY, row["name"])).fetchone()
            result = {"target": row["name"], "kind": "dashboard", "outcome": "sent",
                      "alert_id": str(alert["id"]) if alert else None}
            print_json(result) if json_output or not is_terminal() else typer.echo(
                f"dashboard target {row['name']}: test alert {result['alert_id']} written")
            return
        secret = conn.execute("select public.notification_target_secret(%s) as s", (row["id"],)).fetchone()
        tenant_name = conn.execute("select name from public.tenants where id = %s", (tenant_id,)).fetchone()
        queued = conn.execute(
            "insert into public.alert_notifications (tenant_id, target_id, transition, status, attempts, locked_by,"
            " locked_until) values (%s, %s, 'test', 'sending', 1, 'cli', now() + interval '5 minutes') returning id",
            (tenant_id, row["id"])).fetchone()
        assert queued is not None
        notification = Notification(
            id=str(queued["id"]), tenant_id=str(tenant_id), tenant_name=tenant_name["name"] if tenant_name else "",
            transition="test", attempts=1,
            target=Target(id=str(row["id"]), name=row["name"], kind=row["kind"], url=row["url"], email=row["email"],
                          secret=secret["s"] if secret else None))
        outcome = asyncio.run(send(notification, settings))
        final = "sent" if outcome.outcome == "sent" else "failed"  # a test is not retried
        conn.execute("select public.finish_alert_notifications('cli', %s::jsonb)",
                     (_json([{"id": notification.id, "outcome": final, "error": outcome.error,
                              "response_status": outcome.response_status}]),))
    result = {"target": row["name"], "kind": row["kind"], "outcome": final, "error": outcome.error,
              "response_status": outcome.response_status, "notification_id": notification.id}
    if json_output or not is_terminal():
        print_json(result)
    else:
        typer.echo(f"{row['kind']} target {row['name']}: {final}" + (f" ({outcome.error})" if outcome.error else ""))
    if final != "sent":
        raise typer.Exit(1)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@app.command("evaluate")
def evaluate(
    deliver: bool = typer.Option(True, "--deliver/--no-deliver", help="Send the due notifications afterwards."),
    database_url: str | None = DbUrl,
    json_output: bool = JsonOpt,
) -> None:
    """Evaluate the rules now (unless a listener is evaluating this very moment) and send what is due."""
    from salesflow.alerts.evaluator import AlertMonitor
    from salesflow.alerts.settings import AlertSettings
    from salesflow.cli.db import database
    from salesflow.transports.postgres_store import PostgresEventStore

    try:
        settings = AlertSettings.from_env().model_copy(update={"interval_seconds": 0.0})
    except ValueError as exc:
        fail(str(exc))
    url = database(database_url).url

    async def once() -> dict[str, Any]:
        store = PostgresEventStore(url)
        monitor = AlertMonitor(store, f"cli:{socket.gethostname()}:{uuid.uuid4().hex[:6]}", settings)
        try:
            result = dict(await monitor.evaluate(deliver=deliver))
            result["attempted"] = await monitor.sending()
            return result
        finally:
            await monitor.close()  # marks this one-off "listener" stopped: its heartbeat never alerts
            await store.close()

    result = asyncio.run(once())
    if json_output or not is_terminal():
        print_json(result)
    else:
        typer.echo(", ".join(f"{k}: {v}" for k, v in result.items()))
