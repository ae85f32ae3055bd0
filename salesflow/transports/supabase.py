"""The `supabase` transport: the engine's ports over supabase-py (async) — the production path.

One module per concept; this one is the entry point that names them and bundles them:
- `supabase_store`: `SupabaseEventStore`, claims, windows, verdicts and leases as RPC of the SQL API;
- `supabase_wakeup`: `SupabaseWakeup`, a supervised Realtime subscription;
- `supabase_data`: `SupabaseTenantData(Factory)`, handlers' reads and writes through PostgREST, always scoped
  to the event's tenant (the service role bypasses RLS, DESIGN.md principle 4);
- `supabase_api`: `SupabaseApi`, the service-role client they share.

`open_transport(settings)` needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (real Supabase, or the local
stack of `salesflow dev`).
"""

from __future__ import annotations

from salesflow.settings import Settings
from salesflow.transports import Transport
from salesflow.transports.supabase_api import SupabaseApi
from salesflow.transports.supabase_data import SupabaseTenantData, SupabaseTenantDataFactory
from salesflow.transports.supabase_store import SupabaseEventStore
from salesflow.transports.supabase_wakeup import WAKEUP_CHANNEL, SupabaseWakeup

__all__ = ["WAKEUP_CHANNEL", "SupabaseApi", "SupabaseEventStore", "SupabaseTenantData", "SupabaseTenantDataFactory",
           "SupabaseWakeup", "open_supabase", "open_transport"]


def open_supabase(url: str, service_role_key: str, listen: bool = True) -> Transport:
    """The supabase transport for an API URL and a service-role key."""
    api = SupabaseApi(url, service_role_key)
    return Transport(
        name="supabase",
        store=SupabaseEventStore(api),
        data=SupabaseTenantDataFactory(SupabaseApi(url, service_role_key)),
        wakeup=SupabaseWakeup(url, service_role_key) if listen else None,
    )


def open_transport(settings: Settings) -> Transport:
    """The supabase transport from SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY; LookupError names what is
    missing."""
    missing = [n for n in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY") if not getattr(settings, n)]
    if missing:
        raise LookupError(f"transport supabase: set {' and '.join(missing)} (e.g. from `salesflow dev status`)")
    assert settings.SUPABASE_URL and settings.SUPABASE_SERVICE_ROLE_KEY
    return open_supabase(settings.SUPABASE_URL, settings.SUPABASE_SERVICE_ROLE_KEY)
