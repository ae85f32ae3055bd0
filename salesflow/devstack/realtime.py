"""`/realtime/v1/websocket`: the Supabase Realtime contract (Phoenix protocol) for `postgres_changes`.

Changes of tables in the `supabase_realtime` publication are captured by a trigger the local stack
installs (capture.sql) and arrive on one LISTEN connection, in commit order, on one task — like real
Realtime, which processes changes on one thread. Each change goes to every channel with a matching
binding (schema, table, event, `filter` with eq/neq/lt/lte/gt/gte/in) whose token may select the row:
the check runs `select … where <primary key> = …` as the subscriber's role and claims, the way Realtime
checks RLS per subscriber. `service_role` (and any BYPASSRLS role) gets every change; deletes are not
RLS-checked (Realtime cannot either: the row is gone). Delivery is at most once: nothing is kept for a
channel that is not joined.

Both serializers are spoken: Phoenix v1 JSON objects (`vsn=1.0.0`, the Python client) and v2 JSON arrays
(`vsn=2.0.0`, supabase-js's default).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from starlette.websockets import WebSocket, WebSocketDisconnect

from salesflow.devstack.context import Caller, StackContext
from salesflow.devstack.errors import ApiError
from salesflow.devstack.keys import TokenError, verify

log = logging.getLogger("salesflow.devstack.realtime")

CAPTURE_SQL = Path(__file__).with_name("capture.sql")
CHANNEL = "salesflow_realtime"
FILTER_OPS = frozenset({"eq", "neq", "lt", "lte", "gt", "gte", "in"})
_binding_ids = itertools.count(1)


class BindingError(ValueError):
    pass


@dataclass
class Binding:
    id: int
    event: str
    schema: str
    table: str | None
    filter: tuple[str, str, Any] | None
    echo: dict[str, Any]

    def matches(self, change: dict[str, Any]) -> bool:
        if self.event not in ("*", change["type"]):
            return False
        if self.schema not in ("*", change["schema"]):
            return False
        if self.table not in (None, "*", change["table"]):
            return False
        if self.filter is None:
            return True
        column, op, wanted = self.filter
        row = change.get("record") if change["type"] != "DELETE" else change.get("old_record")
        if not row or column not in row:
            return False
        return _compare(row[column], op, wanted)


def _compare(value: Any, op: str, wanted: Any) -> bool:
    if value is None:
        return False
    text = value if isinstance(value, str) else json.dumps(value)
    if op == "in":
        return text in wanted
    if op == "eq":
        return text == wanted
    if op == "neq":
        return text != wanted
    try:
        left: Any = float(value) if not isinstance(value, str) else value
        right: Any = float(wanted) if not isinstance(value, str) else wanted
    except ValueError:
        return False
    return {"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[op]


def parse_binding(spec: dict[str, Any]) -> Binding:
    """One entry of `config.postgres_changes`; raises BindingError naming the bad field."""
    event = str(spec.get("event", "*")).upper()
    if event not in ("*", "INSERT", "UPDATE", "DELETE"):
        raise BindingError(f"postgres_changes.event must be INSERT, UPDATE, DELETE or *, got {spec.get('event')!r}")
    parsed = None
    raw_filter = spec.get("filter")
    if raw_filter:
        column, eq, rest = str(raw_filter).partition("=")
        op, dot, value = rest.partition(".")
        if not eq or not dot or op not in FILTER_OPS or not column:
            raise BindingError(f"postgres_changes.filter {raw_filter!r}: use column=op.value with op one of "
                               + ", ".join(sorted(FILTER_OPS)))
        wanted: Any = value
        if op == "in":
            wanted = frozenset(v.strip().strip('"') for v in value.strip("()").split(","))
        parsed = (column, op, wanted)
    echo: dict[str, Any] = {k: spec[k] for k in ("event", "schema", "table", "filter") if k in spec}
    return Binding(next(_binding_ids), event, str(spec.get("schema", "public")), spec.get("table"), parsed, echo)


@dataclass
class Channel:
    topic: str
    join_ref: str | None
    bindings: list[Binding]
    claims: dict[str, Any] | None


@dataclass(eq=False)
class Session:
    """One websocket: its serializer, joined channels and a send queue drained by one writer task."""

    websocket: WebSocket
    vsn: str
    channels: dict[str, Channel] = field(default_factory=dict)
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def push(self, topic: str, event: str, payload: Any, ref: str | None = None, join_ref: str | None = None) -> None:
        if self.vsn.startswith("2"):
            self.outbox.put_nowait(json.dumps([join_ref, ref, topic, event, payload]))
        else:
            self.outbox.put_nowait(json.dumps(
                {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": join_ref}))

    def reply(self, topic: str, ref: str | None, join_ref: str | None, status: str, response: Any) -> None:
        self.push(topic, "phx_reply", {"status": status, "response": response}, ref, join_ref)


class RealtimeHub:
    """All websocket sessions of a stack, fed by one LISTEN connection."""

    def __init__(self, ctx: StackContext) -> None:
        self.ctx = ctx
        self.sessions: set[Session] = set()
        self._listener: asyncio.Task[None] | None = None
        self._bypass_roles: dict[str, bool] = {}
        self._key_privileges: dict[tuple[str, str, str], bool] = {}
        self.listening = asyncio.Event()
        self._listener_pid: int | None = None
        self._sync_lock = asyncio.Lock()
        self.capture_installed = False

    async def install_capture(self) -> None:
        """Install (idempotently) the capture trigger on every table of the publication."""
        async with await psycopg.AsyncConnection.connect(self.ctx.database_url, autocommit=True) as conn:
            cur = await conn.execute(
                "select pg_get_userbyid(nspowner) = 'supabase_auth_admin' from pg_namespace where nspname = 'auth'")
            row = await cur.fetchone()
            if row and row[0]:
                # a real Supabase database: its own Realtime reads the WAL; add nothing to it
                log.warning("realtime: this is a Supabase database; the local change capture is not installed")
                return
            await conn.execute(CAPTURE_SQL.read_text().encode())  # type: ignore[arg-type]
            await conn.execute("select realtime.dev_install_capture()")
            self.capture_installed = True

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen_forever(), name="realtime-listen")

    async def stop(self) -> None:
        for session in list(self.sessions):
            session.channels.clear()
        with contextlib.suppress(Exception):
            await self.sync_subscriptions()
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for s in list(self.sessions):
            s.outbox.put_nowait(None)

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.ctx.database_url, autocommit=True, application_name="salesflow-dev-realtime"
                ) as conn:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(CHANNEL)))
                    cur = await conn.execute("select pg_backend_pid()")
                    self._listener_pid = int((await cur.fetchone())[0])  # type: ignore[index]
                    await self.sync_subscriptions()
                    self.listening.set()
                    log.info("realtime: change feed listening", extra={"channel": CHANNEL})
                    delay = 0.1
                    async for note in conn.notifies():
                        try:
                            await self._on_change(note.payload)
                        except Exception:
                            log.exception("realtime: a change could not be delivered")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("realtime: change feed lost; reconnecting",
                            extra={"error": f"{type(exc).__name__}: {exc}"[:300], "retry_in_seconds": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def sync_subscriptions(self) -> None:
        """Mirror the joined bindings into realtime.dev_subscriptions, so the capture trigger only
        serializes and sends changes somebody subscribed to. Rows of stack processes that are gone
        (their LISTEN backend no longer exists) are removed on the way."""
        if self._listener_pid is None or not self.capture_installed:
            return
        wanted = sorted({(b.schema, b.table or "*", b.event) for session in self.sessions
                         for channel in session.channels.values() for b in channel.bindings})
        async with self._sync_lock:
            assert self.ctx.pool is not None
            async with self.ctx.pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "delete from realtime.dev_subscriptions where listener_pid = %s "
                    "or listener_pid not in (select pid from pg_stat_activity)", (self._listener_pid,))
                if wanted:
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            "insert into realtime.dev_subscriptions (listener_pid, schema_name, table_name, event) "
                            "values (%s, %s, %s, %s) on conflict do nothing",
                            [(self._listener_pid, *w) for w in wanted])

    async def _on_change(self, payload: str) -> None:
        change = json.loads(payload)
        if "parked" in change:
            assert self.ctx.pool is not None
            async with self.ctx.pool.connection() as conn:
                cur = await conn.execute("delete from realtime.dev_changes where id = %s returning change",
                                         (change["parked"],))
                row = await cur.fetchone()
            if row is None:
                return
            change = row[0]
        targets: list[tuple[Session, Channel, list[int]]] = []
        for session in list(self.sessions):
            for channel in list(session.channels.values()):
                ids = [b.id for b in channel.bindings if b.matches(change)]
                if ids and channel.claims is not None:
                    targets.append((session, channel, ids))
        if not targets:
            return
        cache = await self.ctx.schema_cache()
        table = cache.table(change["schema"], change["table"]) or \
            (await self.ctx.schema_cache(refresh=True)).table(change["schema"], change["table"])
        columns = [{"name": c.name, "type": c.udt} for c in table.columns.values()] if table else []
        # Like Realtime on a table with the default replica identity: the old row carries its key only.
        old = change.get("old_record") or {}
        if table is not None and not table.replica_identity_full:
            old = {k: v for k, v in old.items() if k in table.primary_key}
        data = {
            "schema": change["schema"], "table": change["table"], "commit_timestamp": change["commit_timestamp"],
            "type": change["type"], "errors": None, "columns": columns,
            "record": change.get("record") or {}, "old_record": old,
        }
        visible: dict[str, bool] = {}
        for session, channel, ids in targets:
            claims = channel.claims or {}
            exp = claims.get("exp")
            if isinstance(exp, int | float) and exp < time.time():
                continue
            key = json.dumps(claims, sort_keys=True)
            if key not in visible:
                visible[key] = await self._may_select(claims, change, table)
            if visible[key]:
                session.push(channel.topic, "postgres_changes", {"ids": ids, "data": data})

    async def _may_select(self, claims: dict[str, Any], change: dict[str, Any], table: Any) -> bool:
        role = str(claims.get("role") or "anon")
        if await self._bypasses_rls(role):
            return True
        if change["type"] == "DELETE":
            # As Realtime does: RLS cannot be checked on a row that is gone, so a delete reaches every
            # subscriber with the key only -- but only a role that may select the key columns at all (anon
            # may not select a lead, so it learns nothing, not even a deleted id).
            return table is not None and bool(table.primary_key) and await self._may_select_key(role, table)
        if table is None or not table.primary_key:
            return False
        record = change.get("record") or {}
        caller = Caller(claims, "")
        cond = sql.SQL(" and ").join(
            sql.SQL("{}::text = {}").format(sql.Identifier(k), sql.Placeholder()) for k in table.primary_key)
        query = sql.SQL("select exists (select 1 from {} where {})").format(
            sql.Identifier(table.schema, table.name), cond)
        values = [None if record.get(k) is None else
                  (record[k] if isinstance(record[k], str) else json.dumps(record[k])) for k in table.primary_key]
        try:
            rows = await self.ctx.run(caller, "GET", "/realtime/v1", {}, True, [(query, values)], table.schema)
        except (psycopg.Error, ApiError):
            return False
        return bool(rows[0] and rows[0][0])

    async def _may_select_key(self, role: str, table: Any) -> bool:
        key = (role, table.schema, table.name)
        if key not in self._key_privileges:
            assert self.ctx.pool is not None
            try:
                async with self.ctx.pool.connection() as conn:
                    cur = await conn.execute(
                        "select bool_and(has_column_privilege(%s, format('%%I.%%I', %s::text, %s::text), c, "
                        "'SELECT')) from unnest(%s::text[]) c",
                        (role, table.schema, table.name, list(table.primary_key)))
                    row = await cur.fetchone()
            except psycopg.Error:  # e.g. a role that does not exist: it may select nothing
                row = None
            self._key_privileges[key] = bool(row and row[0])
        return self._key_privileges[key]

    async def _bypasses_rls(self, role: str) -> bool:
        if role not in self._bypass_roles:
            assert self.ctx.pool is not None
            async with self.ctx.pool.connection() as conn:
                cur = await conn.execute("select rolbypassrls or rolsuper from pg_roles where rolname = %s", (role,))
                row = await cur.fetchone()
            self._bypass_roles[role] = bool(row and row[0])
        return self._bypass_roles[role]

    async def serve(self, websocket: WebSocket) -> None:
        """Run one websocket session until the client goes away."""
        try:
            self.ctx.caller(websocket)
        except ApiError as exc:
            await websocket.close(code=4001, reason=exc.message)
            return
        await websocket.accept()
        session = Session(websocket, websocket.query_params.get("vsn", "1.0.0"))
        self.sessions.add(session)
        writer = asyncio.create_task(self._write(session))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    continue  # binary frames carry broadcasts, which the local stack does not relay
                try:
                    await self._handle(session, text)
                except (ValueError, KeyError, TypeError) as exc:
                    log.debug("realtime: unreadable message %r: %s", text[:200], exc)
        except WebSocketDisconnect:
            pass
        finally:
            self.sessions.discard(session)
            session.outbox.put_nowait(None)
            if session.channels:
                with contextlib.suppress(Exception):
                    await self.sync_subscriptions()
            with contextlib.suppress(Exception):
                await writer

    async def _write(self, session: Session) -> None:
        while True:
            text = await session.outbox.get()
            if text is None:
                return
            try:
                await session.websocket.send_text(text)
            except Exception:
                return

    async def _handle(self, session: Session, text: str) -> None:
        decoded = json.loads(text)
        if isinstance(decoded, list):
            join_ref, ref, topic, event, payload = decoded
        else:
            topic, event, payload = decoded["topic"], decoded["event"], decoded.get("payload") or {}
            ref, join_ref = decoded.get("ref"), decoded.get("join_ref")
        if topic == "phoenix" and event == "heartbeat":
            session.reply(topic, ref, None, "ok", {})
        elif event == "phx_join":
            await self._join(session, topic, ref, join_ref, payload)
        elif event == "access_token":
            channel = session.channels.get(topic)
            if channel is not None:
                claims = self._claims(str(payload.get("access_token") or ""), session)
                channel.claims = claims
                if claims is None:
                    session.push(topic, "system", {"channel": topic.removeprefix("realtime:"),
                                                   "extension": "system", "message": "Invalid or expired token",
                                                   "status": "error"})
        elif event == "phx_leave":
            session.channels.pop(topic, None)
            await self.sync_subscriptions()
            session.reply(topic, ref, join_ref, "ok", {})
            session.push(topic, "phx_close", {}, ref, join_ref)
        elif ref is not None:
            session.reply(topic, ref, join_ref, "ok", {})

    def _claims(self, token: str, session: Session) -> dict[str, Any] | None:
        token = token or session.websocket.query_params.get("apikey", "")
        try:
            return verify(token, self.ctx.jwt_secret)
        except TokenError:
            return None

    async def _join(self, session: Session, topic: str, ref: str | None, join_ref: str | None,
              payload: dict[str, Any]) -> None:
        join_ref = join_ref or ref
        claims = self._claims(str(payload.get("access_token") or ""), session)
        if claims is None:
            session.reply(topic, ref, join_ref, "error", {"reason": "Invalid or expired token (access_token)"})
            return
        config = payload.get("config") or {}
        try:
            bindings = [parse_binding(spec) for spec in config.get("postgres_changes") or []]
        except BindingError as exc:
            session.reply(topic, ref, join_ref, "error", {"reason": str(exc)})
            return
        session.channels[topic] = Channel(topic, join_ref, bindings, claims)
        # the capture trigger must know about the bindings before the client hears it is subscribed
        await self.sync_subscriptions()
        session.reply(topic, ref, join_ref, "ok",
                      {"postgres_changes": [{"id": b.id, **b.echo} for b in bindings]})
        if bindings:
            session.push(topic, "system", {"channel": topic.removeprefix("realtime:"), "extension": "postgres_changes",
                                           "message": "Subscribed to PostgreSQL", "status": "ok"})
