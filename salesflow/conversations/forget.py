"""Erasing a lead (`salesflow leads forget ID`): everything personal of it, in one database transaction.

The work is `public.forget_lead` (supabase/migrations/20261202140200_forget_lead.sql, which says what goes,
what stays anonymised, and why a keyed-hash suppression record of an opt-out survives): messages,
conversations, summaries, facts, identities and every row naming the lead are deleted; the lead row and its
consents stay, anonymised; event payloads, errors, analytics properties, AI usage errors and the provider
webhooks' raw bodies are redacted. docs/conversation-memory.md explains the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from salesflow.events.ports import TenantData


class LeadNotFound(LookupError):
    """The tenant has no lead with this id."""


@dataclass(frozen=True)
class Erasure:
    """What `forget_lead` erased: rows deleted or redacted, by table (and `suppressions` kept)."""

    lead_id: str
    tenant_id: str
    erased: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "tenant_id": self.tenant_id, "erased": dict(self.erased)}


async def forget_lead(data: TenantData, lead_id: str | UUID) -> Erasure:
    """Erase the lead `lead_id` of `data`'s tenant (service code or an operator only: `data` runs as
    service_role). LeadNotFound when the tenant has no such lead."""
    lead = str(UUID(str(lead_id)))
    if not await data.select("leads", {"id": lead}, columns=["id"], limit=1):
        raise LeadNotFound(f"lead_id: there is no lead {lead} in tenant {data.tenant_id}")
    result = await data.rpc("forget_lead", {"p_tenant_id": str(data.tenant_id), "p_lead_id": lead})
    return Erasure(lead_id=lead, tenant_id=str(data.tenant_id),
                   erased={str(k): int(v) for k, v in (result.get("erased") or {}).items()})
