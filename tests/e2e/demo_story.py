"""What a finished demo run left in the database: the story `./scripts/run --demo` tells, read back from rows and
events (not from what the script printed)."""

from __future__ import annotations

from typing import Any

import psycopg

from salesflow.demo import ACME, DEMO_NUMBER


def demo_story(database_url: str) -> list[dict[str, Any]]:
    """Every Zero-Input lead the demo's WhatsApp number received, with what happened to it. Asserts the promises
    every demo run keeps; returns the leads (oldest first) for further checks."""
    with psycopg.connect(database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        leads = conn.execute(
            "select l.id, l.source, l.source_channel, l.status, l.scored_at, l.email, l.company, "
            "       i.address as whatsapp_identity, m.id as inbound_id, w.headers as webhook_headers "
            "from public.messages m "
            "join public.leads l on l.id = m.lead_id "
            "join public.channel_identities i on i.lead_id = l.id and i.channel = 'whatsapp' "
            "join public.inbound_webhooks w on w.external_id = m.provider_message_id and w.provider = 'whatsapp_cloud' "
            "join public.channel_connections c on c.id = w.connection_id and c.address = %s "
            "where m.tenant_id = %s and m.direction = 'in' and m.channel = 'whatsapp' order by l.created_at",
            (DEMO_NUMBER, ACME)).fetchall()
        assert leads, "the demo's webhook left no inbound WhatsApp message on its connection"
        for lead in leads:
            # Zero-Input: the unknown number became a lead on WhatsApp, reachable at the number it wrote from.
            assert (lead["source_channel"], lead["source"]) == ("whatsapp", "inbound_whatsapp"), lead
            assert lead["whatsapp_identity"].startswith("+49151"), lead
            # The request reached the function signed (the header is in the audit trail).
            assert lead["webhook_headers"]["x-hub-signature-256"].startswith("sha256="), lead
            # lead_extraction read the email and the company from the text; the lead was scored.
            assert lead["email"] and lead["company"] == "Vogt Logistik GmbH", lead
            assert lead["scored_at"] is not None, lead
            assert lead["status"] == "qualified", lead
            facts = {row["key"] for row in conn.execute(
                "select key from public.lead_facts where lead_id = %s and valid_to is null and origin = 'extraction'",
                (lead["id"],)).fetchall()}
            assert {"email", "company"} <= facts, facts
            events = conn.execute("select type, status, payload, source from public.events "
                                  "where payload ->> 'lead_id' = %s", (str(lead["id"]),)).fetchall()
            assert {e["status"] for e in events} == {"processed"}, events
            received = [e for e in events if e["type"] == "message.received"]
            assert [e["payload"]["message_id"] for e in received] == [str(lead["inbound_id"])], received
            # The reply: sent through the outbox adapter by the send job, with its message.sent event.
            replies = conn.execute("select id, status, provider_message_id, sent_by from public.messages "
                                   "where lead_id = %s and direction = 'out'", (lead["id"],)).fetchall()
            assert len(replies) == 1, replies
            reply = replies[0]
            assert (reply["status"], reply["sent_by"]) == ("sent", "user"), reply
            assert reply["provider_message_id"] == f"outbox:{reply['id']}", reply
            sent = [e for e in events if e["type"] == "message.sent"]
            assert [(e["payload"]["message_id"], e["payload"]["provider_message_id"]) for e in sent] == [
                (str(reply["id"]), reply["provider_message_id"])], sent
            lead["events"] = events
        # Nothing published by hand any more.
        by_hand = conn.execute("select count(*) from public.events where source = 'demo'").fetchone()
        assert by_hand == {"count": 0}
        return [dict(lead) for lead in leads]
