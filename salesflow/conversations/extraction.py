"""Facts from inbound text: run `lead_extraction` on a message and apply the result (Zero-Input, issue 10).

What is applied and what waits for a person is decided in SQL, in one transaction per message
(`public.apply_lead_extraction`): at or above the tenant's threshold (`tenants.extraction_confidence_threshold`,
default 0.8) a field fills an *empty* field of the lead and is recorded as a fact; a field that would change a
value the lead has, one below the threshold, and an email or phone belonging to another lead become
`lead_review_tasks` for a member (`salesflow.conversations.review`). `messages.facts_extracted_at` marks the
message done, so a redelivered event neither pays for a second AI call nor writes twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salesflow.ai.scenarios.lead_extraction import LeadExtraction
from salesflow.conversations.stitching import identity_address, phone_region
from salesflow.events.ports import TenantData

# Fields in the order they are applied: addresses first, so a stitched identity is settled before the rest.
FIELDS = ("email", "phone", "name", "company")


async def message_context(data: TenantData, message_id: str, transcript_messages: int = 20) -> dict[str, Any] | None:
    """The message, its lead, the tenant's locale and threshold, and a transcript of the lead's latest messages
    (`public.inbound_message_context`); None when the message is gone."""
    result = await data.rpc("inbound_message_context", {
        "p_tenant_id": str(data.tenant_id), "p_message_id": message_id, "p_limit": transcript_messages,
    })
    return dict(result) if result else None


def proposed_fields(
    extraction: LeadExtraction, lead: Mapping[str, Any], sender_address: str | None, tenant_locale: str | None
) -> list[dict[str, Any]]:
    """The scenario's output as `apply_lead_extraction` takes it: found fields with value, confidence and the
    normalised identity address of an email or phone."""
    region = phone_region(lead, sender_address, tenant_locale)
    fields: list[dict[str, Any]] = []
    for name in FIELDS:
        found = getattr(extraction, name)
        if not found.value or found.confidence <= 0:
            continue
        fields.append({"field": name, "value": found.value.strip(), "confidence": round(found.confidence, 3),
                       "address": identity_address(name, found.value, region)})
    return fields


async def apply_extraction(data: TenantData, message_id: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply `fields` for the message; returns {already, applied, review, identities}."""
    result = await data.rpc("apply_lead_extraction", {
        "p_tenant_id": str(data.tenant_id), "p_message_id": message_id, "p_fields": fields,
    })
    return dict(result)
