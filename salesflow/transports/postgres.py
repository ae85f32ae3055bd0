"""The `postgres` transport: the engine's ports over psycopg (async), wake-ups by LISTEN/NOTIFY.

One module per concept; this one is the entry point that names them:
- `postgres_store`: `PostgresEventStore`, the outbox through the SQL API (claim windows included);
- `postgres_wakeup`: `PostgresWakeup`, LISTEN on `CHANNEL`;
- `postgres_data`: `PostgresTenantData(Factory)`, handlers' data access as service_role.
`salesflow.transports.open_postgres(url)` bundles them as a `Transport`.
"""

from __future__ import annotations

from salesflow.transports.postgres_data import PostgresTenantData, PostgresTenantDataFactory
from salesflow.transports.postgres_store import PostgresEventStore
from salesflow.transports.postgres_wakeup import CHANNEL, PostgresWakeup

__all__ = ["CHANNEL", "PostgresEventStore", "PostgresTenantData", "PostgresTenantDataFactory", "PostgresWakeup"]
