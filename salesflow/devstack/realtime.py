"""`/realtime/v1/websocket`: the Supabase Realtime contract (Phoenix protocol): `postgres_changes`,
Broadcast and Presence on public channels.

Changes of tables in the `supabase_realtime` publication are captured by a trigger the local stack
installs (capture.sql) and arrive on one LISTEN connection, in commit order, on one task — like real
Realtime, which processes changes on one thread. Each change goes to every channel with a matching
binding (schema, table, event, `filter` with eq/neq/lt/lte/gt/gte/in) whose token may select the row:
the check runs `select … where <primary key> = …` as the subscriber's role and claims, the way Realtime
checks RLS per subscriber. `service_role` (and any BYPASSRLS role) gets every change; deletes are not
RLS-checked (Realtime cannot either: the row is gone). Delivery is at most once: nothing is kept for a
channel that is not joined.

A `postgres_changes` binding on a table outside the publication (or one that does not exist) is refused
the way Realtime refuses it: the join is answered ok, then a `system` message with status `error` says
"Unable to subscribe to changes with given parameters…", and nothing of that channel's bindings is
subscribed.

Broadcast: a `broadcast` push goes to every channel of the same topic on any socket, to the sender's own
channel only with `config.broadcast.self`, answered with a `phx_reply` only with `config.broadcast.ack`.
Presence: `track` / `untrack` pushes, `presence_state` to a channel when it joins with presence enabled (or
tracks for the first time), `presence_diff` (joins, leaves) to every presence-enabled channel of the topic;
leaving the channel or dropping the socket untracks. Both are Phoenix.Presence's shapes (`metas`, `phx_ref`).
Private channels (Realtime Authorization over `realtime.messages`) are not served: their join is refused as
a project without such policies refuses it.

Both serializers are spoken: Phoenix v1 JSON objects (`vsn=1.0.0`, the Python client) and v2 JSON arrays
(`vsn=2.0.0`, supabase-js's default), including v2's binary broadcast frames (a client pushes kind 3, the
server delivers kind 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from salesflow.devstack.context import Caller, StackContext
from salesflow.devstack.errors import ApiError
from salesflow.devstack.keys import TokenError, verify

log = logging.getLogger("salesflow.devstack.realtime")

CAPTURE_SQL = Path(__file__).with_name("capture.sql")
CHANNEL = "salesflow_realtime"
PUBLICATION = "supabase_realtime"
USER_BROADCAST_PUSH = 3  # v2 binary frame kinds (realtime-js serializer)
USER_BROADCAST = 4
JSON_ENCODING = 1
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


class JoinRefused(Exception):
    """A token Realtime does not accept; `reason` is Realtime's wording (`<Code>: <message>`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.reason = f"{code}: {message}"
        self.message = message


def refusal(exc: TokenError) -> JoinRefused:
    """Realtime's answer to a token it cannot use."""
    if exc.kind == "missing_exp":
        return JoinRefused("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
    if exc.kind == "expired":
        return JoinRefused("InvalidJWTToken", f"Token has expired {exc.expired_for} seconds ago")
    if exc.kind == "signature":
        return JoinRefused("JwtSignatureError", "Failed to validate JWT signature")
    return JoinRefused("MalformedJWT", "The token provided is not a valid JWT")


@dataclass
class Presence:
    """What one channel tracks: its key's meta, under a `phx_ref` that changes with every track."""

    meta: dict[str, Any]
    ref: str

    def entry(self, previous: str | None = None) -> dict[str, Any]:
        return {**self.meta, "phx_ref": self.ref, **({"phx_ref_prev": previous} if previous else {})}


@dataclass
class Channel:
    topic: str
    join_ref: str | None
    bindings: list[Binding]
    claims: dict[str, Any] | None
    self_broadcast: bool = False
    ack_broadcast: bool = False
    presence_enabled: bool = False
    presence_key: str = ""
    presence: Presence | None = None


@dataclass(eq=False)
class Session:
    """One websocket: its serializer, joined channels and a send queue drained by one writer task."""

    websocket: WebSocket
    vsn: str
    channels: dict[str, Channel] = field(default_factory=dict)
    outbox: asyncio.Queue[str | bytes | None] = field(default_factory=asyncio.Queue)

    @property
    def binary(self) -> bool:
        return self.vsn.startswith("2")

    def push_broadcast(self, topic: str, event: str, payload: Any, raw: bytes | None, encoding: int) -> None:
        """Deliver one broadcast: v2 sockets get realtime-js's binary frame, v1 sockets a JSON message (a
        binary payload cannot travel as JSON: like Realtime, a v1 socket does not get it)."""
        if self.binary and raw is not None:
            name, body = topic.encode(), event.encode()
            self.outbox.put_nowait(struct.pack("!BBBBB", USER_BROADCAST, len(name), len(body), 0, encoding)
                                   + name + body + raw)
        elif encoding == JSON_ENCODING:
            self.push(topic, "broadcast", {"type": "broadcast", "event": event, "payload": payload})

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
            # answered before the upgrade, with the gateway's status and body (401 for a foreign apikey)
            await websocket.send_denial_response(
                JSONResponse({"message": exc.message, "hint": exc.hint} if exc.hint else exc.body(),
                             status_code=exc.status))
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
                text, frame = message.get("text"), message.get("bytes")
                try:
                    if text is not None:
                        await self._handle(session, text)
                    elif frame:
                        self._binary_broadcast(session, frame)
                except (ValueError, KeyError, TypeError, AttributeError, IndexError, struct.error) as exc:
                    log.debug("realtime: unreadable message %r: %s", (text or frame or "")[:200], exc)
        except WebSocketDisconnect:
            pass
        finally:
            self.sessions.discard(session)
            for channel in list(session.channels.values()):
                self._untrack(session, channel)
            session.outbox.put_nowait(None)
            if session.channels:
                with contextlib.suppress(Exception):
                    await self.sync_subscriptions()
            with contextlib.suppress(Exception):
                await writer

    async def _write(self, session: Session) -> None:
        while True:
            frame = await session.outbox.get()
            if frame is None:
                return
            try:
                if isinstance(frame, bytes):
                    await session.websocket.send_bytes(frame)
                else:
                    await session.websocket.send_text(frame)
            except Exception:
                return

    async def _handle(self, session: Session, text: str) -> None:
        decoded = json.loads(text)
        if isinstance(decoded, list):
            join_ref, ref, topic, event, payload = decoded
            payload = payload or {}
        else:
            topic, event, payload = decoded["topic"], decoded["event"], decoded.get("payload") or {}
            ref, join_ref = decoded.get("ref"), decoded.get("join_ref")
        if topic == "phoenix" and event == "heartbeat":
            session.reply(topic, ref, None, "ok", {})
        elif event == "phx_join":
            await self._join(session, topic, ref, join_ref, payload)
        elif event == "access_token":
            channel = session.channels.get(topic)
            token = payload.get("access_token")
            if channel is not None and isinstance(token, str) and not token.startswith("sb_"):
                try:
                    channel.claims = self._claims(token, session)
                except JoinRefused as exc:
                    # Realtime shuts the channel down: a system error, then the channel closes
                    session.push(topic, "system", {"channel": topic.removeprefix("realtime:"), "extension": "system",
                                                   "message": exc.message, "status": "error"})
                    await self._close(session, channel)
        elif event == "phx_leave":
            channel = session.channels.get(topic)
            session.reply(topic, ref, join_ref, "ok", {})
            if channel is not None:
                await self._close(session, channel)
        elif event in ("broadcast", "presence"):
            channel = session.channels.get(topic)
            if channel is None:
                session.reply(topic, ref, join_ref, "error", {"reason": "unmatched topic"})
            elif event == "broadcast":
                body = payload.get("payload")
                self._broadcast(session, channel, str(payload.get("event", "")), body, json.dumps(body).encode(),
                                JSON_ENCODING)
                if channel.ack_broadcast:
                    session.reply(topic, ref, join_ref, "ok", {})
            else:
                self._presence(session, channel, payload, ref, join_ref)
        elif ref is not None:
            session.reply(topic, ref, join_ref, "ok", {})

    def _binary_broadcast(self, session: Session, frame: bytes) -> None:
        """A v2 binary push (realtime-js sends every broadcast this way): kind, the lengths of join_ref, ref,
        topic, event and metadata, the payload's encoding, those fields, then the payload."""
        kind, join_len, ref_len, topic_len, event_len, meta_len, encoding = struct.unpack_from("!7B", frame)
        if kind != USER_BROADCAST_PUSH:
            raise ValueError(f"binary frame of kind {kind}")
        offset = 7
        fields = []
        for length in (join_len, ref_len, topic_len, event_len, meta_len):
            fields.append(frame[offset:offset + length].decode())
            offset += length
        join_ref, ref, topic, event, _meta = fields
        raw = frame[offset:]
        channel = session.channels.get(topic)
        if channel is None:
            session.reply(topic, ref or None, join_ref or None, "error", {"reason": "unmatched topic"})
            return
        payload = json.loads(raw) if encoding == JSON_ENCODING else None
        self._broadcast(session, channel, event, payload, raw, encoding)
        if channel.ack_broadcast:
            session.reply(topic, ref or None, join_ref or None, "ok", {})

    def _channels_of(self, topic: str) -> list[tuple[Session, Channel]]:
        return [(s, c) for s in list(self.sessions) for c in list(s.channels.values()) if c.topic == topic]

    def _broadcast(self, sender: Session, channel: Channel, event: str, payload: Any, raw: bytes | None,
                   encoding: int) -> None:
        for session, other in self._channels_of(channel.topic):
            if other is channel and not channel.self_broadcast:
                continue
            session.push_broadcast(channel.topic, event, payload, raw, encoding)

    def _presence(self, session: Session, channel: Channel, payload: dict[str, Any], ref: str | None,
                  join_ref: str | None) -> None:
        """A `track` or `untrack` push: the reply first, then the state and diffs it causes (as Realtime
        replies before it syncs)."""
        event = str(payload.get("event", "")).lower()
        meta = payload.get("payload", {})
        if event not in ("track", "untrack"):
            reason = f"unknown presence event {payload.get('event')!r}: use track or untrack"
            session.reply(channel.topic, ref, join_ref, "error", {"reason": reason})
            return
        if event == "track" and not isinstance(meta, dict):
            session.reply(channel.topic, ref, join_ref, "error", {"reason": "Presence track payload must be a map"})
            return
        session.reply(channel.topic, ref, join_ref, "ok", {})
        if event == "untrack":
            self._untrack(session, channel)
            return
        previous = channel.presence
        if previous is not None and previous.meta == meta:
            return
        channel.presence = Presence(meta, secrets.token_urlsafe(9))
        key = channel.presence_key
        joins = {key: {"metas": [channel.presence.entry(previous.ref if previous else None)]}}
        leaves = {key: {"metas": [previous.entry()]}} if previous else {}
        newly_enabled = not channel.presence_enabled
        channel.presence_enabled = True
        if newly_enabled:
            # this track enables presence for the channel: it gets the whole state, itself included
            session.push(channel.topic, "presence_state", self._presence_state(channel.topic))
        self._presence_diff(channel.topic, joins, leaves, skip=channel if newly_enabled else None)

    def _untrack(self, session: Session, channel: Channel) -> None:
        previous, channel.presence = channel.presence, None
        if previous is not None:
            self._presence_diff(channel.topic, {}, {channel.presence_key: {"metas": [previous.entry()]}})

    def _presence_state(self, topic: str) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for _, channel in self._channels_of(topic):
            if channel.presence is not None:
                state.setdefault(channel.presence_key, {"metas": []})["metas"].append(channel.presence.entry())
        return state

    def _presence_diff(self, topic: str, joins: dict[str, Any], leaves: dict[str, Any],
                       skip: Channel | None = None) -> None:
        for session, channel in self._channels_of(topic):
            if channel.presence_enabled and channel is not skip:
                session.push(topic, "presence_diff", {"joins": joins, "leaves": leaves})

    async def _close(self, session: Session, channel: Channel) -> None:
        """The channel ends (left, or its token refused): presence untracked, bindings dropped, phx_close."""
        if session.channels.get(channel.topic) is channel:
            del session.channels[channel.topic]
        self._untrack(session, channel)
        await self.sync_subscriptions()
        session.push(channel.topic, "phx_close", {}, channel.join_ref, channel.join_ref)

    def _claims(self, token: str, session: Session) -> dict[str, Any]:
        """The claims of the join's access_token (or the socket's apikey); raises JoinRefused."""
        token = token or session.websocket.query_params.get("apikey", "")
        try:
            claims = verify(token, self.ctx.jwt_secret)
        except TokenError as exc:
            raise refusal(exc) from None
        if "role" not in claims:
            raise JoinRefused("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
        return claims

    async def _subscribable(self, bindings: list[Binding]) -> str | None:
        """None when every binding names tables of the publication, else Realtime's message for the first
        that does not (a table outside the publication and one that does not exist look alike to it)."""
        assert self.ctx.pool is not None
        async with self.ctx.pool.connection() as conn:
            for b in bindings:
                cur = await conn.execute(
                    "select exists (select 1 from pg_publication_tables where pubname = %s "
                    "and schemaname like (case %s when '*' then '%%' else %s end) escape '' "
                    "and tablename like (case %s when '*' then '%%' else %s end) escape '')",
                    (PUBLICATION, b.schema, b.schema, b.table or "*", b.table or "*"))
                row = await cur.fetchone()
                if not (row and row[0]):
                    value = str(b.echo.get("filter", "")).partition("=")[2].partition(".")[2]
                    filters = "" if b.filter is None else f'{{"{b.filter[0]}", "{b.filter[1]}", "{value}"}}'
                    return ("Unable to subscribe to changes with given parameters. Please check Realtime is enabled "
                            f"for the given connect parameters: [event: {b.event}, schema: {b.schema}, "
                            f"table: {b.table or '*'}, filters: [{filters}]]")
        return None

    async def _join(self, session: Session, topic: str, ref: str | None, join_ref: str | None,
                    payload: dict[str, Any]) -> None:
        join_ref = join_ref or ref
        name = topic.removeprefix("realtime:")
        if not name or not topic.startswith("realtime:"):
            session.reply(topic, ref, join_ref, "error", {"reason": "TopicNameRequired: You must provide a topic name"})
            return
        try:
            claims = self._claims(str(payload.get("access_token") or ""), session)
        except JoinRefused as exc:
            session.reply(topic, ref, join_ref, "error", {"reason": exc.reason})
            return
        config = payload.get("config") or {}
        if config.get("private"):
            session.reply(topic, ref, join_ref, "error", {
                "reason": f"Unauthorized: You do not have permissions to read from this Channel topic: {name}"})
            return
        try:
            bindings = [parse_binding(spec) for spec in config.get("postgres_changes") or []]
        except BindingError as exc:
            session.reply(topic, ref, join_ref, "error", {"reason": str(exc)})
            return
        refused = await self._subscribable(bindings) if bindings else None
        broadcast: dict[str, Any] = config["broadcast"] if isinstance(config.get("broadcast"), dict) else {}
        presence = config.get("presence")
        previous = session.channels.get(topic)
        if previous is not None:  # a second join of a topic replaces the first, as in Phoenix
            self._untrack(session, previous)
        channel = Channel(
            topic, join_ref, [] if refused else bindings, claims,
            self_broadcast=bool(broadcast.get("self")), ack_broadcast=bool(broadcast.get("ack")),
            presence_enabled=bool(presence.get("enabled")) if isinstance(presence, dict) else True,
            presence_key=str(presence.get("key") or "") if isinstance(presence, dict) else "",
        )
        channel.presence_key = channel.presence_key or str(uuid.uuid1())
        session.channels[topic] = channel
        # the capture trigger must know about the bindings before the client hears it is subscribed
        await self.sync_subscriptions()
        session.reply(topic, ref, join_ref, "ok",
                      {"postgres_changes": [{"id": b.id, **b.echo} for b in bindings]})
        if channel.presence_enabled:
            session.push(topic, "presence_state", self._presence_state(topic))
        if refused:
            session.push(topic, "system", {"channel": name, "extension": "postgres_changes", "message": refused,
                                           "status": "error"})
        elif bindings:
            session.push(topic, "system", {"channel": name, "extension": "postgres_changes",
                                           "message": "Subscribed to PostgreSQL", "status": "ok"})

    async def broadcast_endpoint(self, request: Request) -> Response:
        """`POST /realtime/v1/api/broadcast` (realtime-js's fallback for `send()` before the channel is
        joined): `{"messages": [{"topic", "event", "payload", "private"?}]}`, answered 202."""
        try:
            self.ctx.caller(request)
        except ApiError as exc:
            return exc.response()
        try:
            body = json.loads(await request.body() or b"{}")
            messages = body["messages"]
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise TypeError("messages must be a list of objects")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"messages: a list of {{topic, event, payload}} is required ({exc})"},
                                status_code=400)
        if any(m.get("private") for m in messages):
            return _private_refused()
        for message in messages:
            payload = message.get("payload")
            self._deliver(f"realtime:{message.get('topic', '')}", str(message.get("event", "")), payload,
                          json.dumps(payload).encode(), JSON_ENCODING)
        return Response(status_code=202)

    async def broadcast_event_endpoint(self, request: Request) -> Response:
        """`POST /realtime/v1/api/broadcast/<topic>/events/<event>` (`httpSend()` / `http_send()`): the body is
        the payload, JSON or `application/octet-stream`; answered 202."""
        try:
            self.ctx.caller(request)
        except ApiError as exc:
            return exc.response()
        if request.query_params.get("private") == "true":
            return _private_refused()
        raw = await request.body()
        binary = request.headers.get("content-type", "").startswith("application/octet-stream")
        try:
            payload = None if binary else json.loads(raw or b"null")
        except ValueError:
            return JSONResponse({"error": "the body must be JSON (or application/octet-stream)"}, status_code=400)
        topic, event = request.path_params["topic"], request.path_params["event"]
        self._deliver(f"realtime:{topic}", event, payload, raw, 0 if binary else JSON_ENCODING)
        return Response(status_code=202)

    def _deliver(self, topic: str, event: str, payload: Any, raw: bytes, encoding: int) -> None:
        for session, _ in self._channels_of(topic):
            session.push_broadcast(topic, event, payload, raw, encoding)


def _private_refused() -> Response:
    return JSONResponse({"error": "private channels (Realtime Authorization) are not served by the local stack; "
                                  "use `supabase start` for them"}, status_code=403)
