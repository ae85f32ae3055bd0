"""Fixtures of the local-stack tests: a migrated and seeded database per module with a running stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from salesflow.devstack import DevStack
from tests.conftest import _create_migrated_database, _drop_database

PASSWORD = "salesflow-dev"


@dataclass
class RunningStack:
    stack: DevStack
    database_url: str

    @property
    def url(self) -> str:
        return self.stack.url

    def sign_in(self, email: str) -> dict[str, Any]:
        """A password grant through /auth/v1, as supabase-js does it; returns the session JSON."""
        response = httpx.post(f"{self.url}/auth/v1/token", params={"grant_type": "password"},
                              json={"email": email, "password": PASSWORD},
                              headers={"apikey": self.stack.anon_key})
        response.raise_for_status()
        return dict(response.json())

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        """apikey + Authorization like the clients send; `token` defaults to the anon key."""
        return {"apikey": self.stack.anon_key, "Authorization": f"Bearer {token or self.stack.anon_key}", **extra}

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def running_stack() -> Iterator[RunningStack]:
    """One fresh database and one local stack on a free port, shared by a module's tests."""
    url = _create_migrated_database()
    try:
        stack = DevStack(url, port=0).start_in_thread()
        try:
            yield RunningStack(stack, url)
        finally:
            stack.stop_in_thread()
    finally:
        _drop_database(url)
