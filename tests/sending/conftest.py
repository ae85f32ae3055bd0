"""Fixtures of the send job tests: a database with channel connections to a provider mock, leads with
addresses, queued messages, the send handler in an engine (in-process) or in a real `salesflow listen`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from salesflow.events import types as t
from salesflow.events.engine import Engine
from salesflow.events.registry import Registry
from salesflow.handlers.sending import send_message
from salesflow.transports import open_postgres
from tests.engines import engine_running
from tests.sending.provider_mock import PHONE_NUMBER_ID, TWILIO_SID, ProviderMock, provider_mock

ACME = "11111111-1111-4111-8111-111111111111"
ROOT = Path(__file__).resolve().parent.parent.parent
TWILIO_NUMBER = "+14155550100"
WHATSAPP_NUMBER = "+4930123456789"

Conn = psycopg.Connection[Any]


@pytest.fixture
def provider() -> Iterator[ProviderMock]:
    with provider_mock() as mock:
        yield mock


@pytest.fixture
def outbox_db(db: Conn) -> Conn:
    """The test database with the seed's events processed, so each test sees only its own."""
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    return db


def connect(db: Conn, channel: str, provider: str, address: str, secrets: dict[str, Any],
            external_account_id: str | None = None, tenant: str = ACME) -> str:
    """A channel connection with its secrets (what `salesflow channels connect` stores)."""
    row = db.execute(
        "insert into public.channel_connections (tenant_id, channel, provider, address, external_account_id) "
        "values (%s, %s, %s, %s, %s) returning id", (tenant, channel, provider, address, external_account_id),
    ).fetchone()
    assert row is not None
    db.execute("insert into private.channel_credentials (connection_id, tenant_id, secrets) values (%s, %s, %s)",
               (row[0], tenant, json.dumps(secrets)))
    db.commit()
    return str(row[0])


def connect_twilio(db: Conn, mock: ProviderMock) -> str:
    return connect(db, "sms", "twilio", TWILIO_NUMBER,
                   {"account_sid": TWILIO_SID, "auth_token": "token", "api_base_url": mock.url})


def connect_whatsapp(db: Conn, mock: ProviderMock) -> str:
    return connect(db, "whatsapp", "whatsapp_cloud", WHATSAPP_NUMBER,
                   {"access_token": "token", "app_secret": "secret", "verify_token": "verify",
                    "api_base_url": mock.url}, external_account_id=PHONE_NUMBER_ID)


def make_leads(db: Conn, channel: str, count: int, first: int = 0, inbound: bool = False) -> list[tuple[str, str]]:
    """`count` leads of Acme with an identity and a conversation on `channel`: [(lead id, address)]. With
    `inbound`, each lead wrote a minute ago (an open 24 h window)."""
    rows = db.execute(
        "with l as (insert into public.leads (tenant_id, name, phone) "
        "  select %(t)s, 'Lead ' || i, '+4915' || lpad(i::text, 9, '0') from generate_series(%(a)s::int, %(b)s::int) i "
        "  returning id, phone), "
        "i as (insert into public.channel_identities (tenant_id, lead_id, channel, address) "
        "  select %(t)s, id, %(c)s, phone from l returning lead_id), "
        "c as (insert into public.conversations (tenant_id, lead_id, channel) select %(t)s, id, %(c)s from l) "
        "select id::text, phone from l order by phone",
        {"t": ACME, "a": first + 1, "b": first + count, "c": channel},
    ).fetchall()
    if inbound:
        db.execute(
            "insert into public.messages (tenant_id, conversation_id, direction, body, received_at, "
            "provider_message_id) select c.tenant_id, c.id, 'in', 'Hallo', now() - interval '1 minute', 'in-' || c.id "
            "from public.conversations c where c.lead_id = any(%s::uuid[]) and c.channel = %s",
            ([r[0] for r in rows], channel))
    db.execute("update public.events set status = 'processed', processed_at = now() where status = 'pending'")
    db.commit()
    return [(r[0], r[1]) for r in rows]


def queue(db: Conn, lead_id: str, channel: str, body: str | None = None, template: str | None = None) -> str:
    """Insert a queued outbound message (as any sender would); returns its id."""
    row = db.execute(
        "insert into public.messages (tenant_id, conversation_id, direction, content_type, body, template_name, "
        "sent_by) select c.tenant_id, c.id, 'out', %s, %s, %s, 'user' from public.conversations c "
        "where c.lead_id = %s and c.channel = %s returning id",
        ("template" if template else "text", body, template, lead_id, channel),
    ).fetchone()
    db.commit()
    assert row is not None
    return str(row[0])


def message(db: Conn, message_id: str) -> dict[str, Any]:
    row = db.execute("select to_jsonb(m) - 'search_vector' from public.messages m where id = %s",
                     (message_id,)).fetchone()
    db.commit()
    assert row is not None
    return dict(row[0])


def statuses(db: Conn, ids: list[str]) -> dict[str, int]:
    rows = db.execute("select status, count(*) from public.messages where id = any(%s::uuid[]) group by 1",
                      (ids,)).fetchall()
    db.commit()
    return {s: int(n) for s, n in rows}


def attempts(db: Conn, message_id: str) -> list[str | None]:
    rows = db.execute("select outcome from private.message_send_attempts where message_id = %s order by attempt",
                      (message_id,)).fetchall()
    db.commit()
    return [r[0] for r in rows]


def sending_registry() -> Registry:
    registry = Registry()
    registry.handles(t.MESSAGE_QUEUED, name="sending.send_message")(send_message)
    return registry


@contextlib.asynccontextmanager
async def send_job_running(url: str, **settings: Any) -> AsyncIterator[Engine]:
    """The send handler in an engine on the postgres transport, in this event loop."""
    async with engine_running(open_postgres(url), sending_registry(),
                              **{"poll_interval": 0.2, "backoff_base_seconds": 0.05, **settings}) as engine:
        yield engine


class Listener:
    """`salesflow listen --handlers salesflow.handlers.sending` as a real process (for kill -9)."""

    def __init__(self, url: str, *args: str) -> None:
        self.url = url
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sf-send-listener-{os.getpid()}-{id(self)}.log"

    def start(self) -> Listener:
        env = {**os.environ, "SALESFLOW_LOG_FORMAT": "json"}
        env.pop("DATABASE_URL", None)
        cmd = [sys.executable, "-m", "salesflow.cli.main", "listen", "--database-url", self.url, "--log-level", "INFO",
               "--handlers", "salesflow.handlers.sending", *self.args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log_path.open("ab"),
                                     stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()


@pytest.fixture
def listener_factory() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(url: str, *args: str) -> Listener:
        listener = Listener(url, *args)
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.stop()
