"""What a finished demo run left in the database: the story `./scripts/run --demo` tells, read back from rows and
events (not from what the script printed)."""

from __future__ import annotations

from typing import Any

import psycopg

from salesflow.demo import ACME, DEMO_NUMBER, DEMO_SEQUENCE, REPLY_TEXT


def demo_story(database_url: str) -> list[dict[str, Any]]:
    """Every Zero-Input lead the demo's WhatsApp number received, with what happened to it. Asserts the promises
    every demo run keeps; returns the leads (oldest first) for further checks."""
    with psycopg.connect(database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        # Per lead its inbound messages in order: the first (that made the lead) and the reply.
        leads = conn.execute(
            "select l.id, l.source, l.source_channel, l.status, l.scored_at, l.email, l.company, "
            "       i.address as whatsapp_identity, "
            "       array_agg(m.id order by m.created_at, m.id) as inbound_ids, "
            "       array_agg(m.body order by m.created_at, m.id) as inbound_bodies, "
            "       bool_and(w.headers ->> 'x-hub-signature-256' like 'sha256=%%') as all_signed "
            "from public.messages m "
            "join public.leads l on l.id = m.lead_id "
            "join public.channel_identities i on i.lead_id = l.id and i.channel = 'whatsapp' "
            "join public.inbound_webhooks w on w.external_id = m.provider_message_id and w.provider = 'whatsapp_cloud' "
            "join public.channel_connections c on c.id = w.connection_id and c.address = %s "
            "where m.tenant_id = %s and m.direction = 'in' and m.channel = 'whatsapp' "
            "group by l.id, i.address order by l.created_at",
            (DEMO_NUMBER, ACME)).fetchall()
        assert leads, "the demo's webhook left no inbound WhatsApp message on its connection"
        for lead in leads:
            # Zero-Input: the unknown number became a lead on WhatsApp, reachable at the number it wrote from.
            assert (lead["source_channel"], lead["source"]) == ("whatsapp", "inbound_whatsapp"), lead
            assert lead["whatsapp_identity"].startswith("+49151"), lead
            # Both requests reached the function signed (the header is in the audit trail); the second is the reply.
            assert lead["all_signed"], lead
            assert len(lead["inbound_ids"]) == 2 and lead["inbound_bodies"][1] == REPLY_TEXT, lead
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
            assert sorted(e["payload"]["message_id"] for e in received) == sorted(map(str, lead["inbound_ids"]))
            # Three messages out, each sent through the outbox adapter by the send job with its message.sent
            # event: the member's reply, the sequence's first step, the approved autopilot draft.
            outbound = {row["sent_by"]: row for row in conn.execute(
                "select id, status, provider_message_id, sent_by from public.messages "
                "where lead_id = %s and direction = 'out'", (lead["id"],)).fetchall()}
            assert sorted(outbound) == ["autopilot", "sequence", "user"], outbound
            for message in outbound.values():
                assert message["status"] == "sent", message
                assert message["provider_message_id"] == f"outbox:{message['id']}", message
            sent = [e for e in events if e["type"] == "message.sent"]
            assert sorted((e["payload"]["message_id"], e["payload"]["provider_message_id"]) for e in sent) == sorted(
                (str(m["id"]), m["provider_message_id"]) for m in outbound.values()), sent
            # The sequence: its first step ran and sent its message (sequence.step_executed names it); the
            # lead's reply stopped the enrollment.
            (enrollment,) = conn.execute(
                "select e.id, e.state, e.stop_reason, e.stopped_at, r.status as step_status, "
                "       r.message_id as step_message_id "
                "from public.sequence_enrollments e join public.sequences s on s.id = e.sequence_id "
                "left join public.sequence_step_runs r on r.enrollment_id = e.id and r.position = 1 "
                "where e.lead_id = %s and s.name = %s", (lead["id"], DEMO_SEQUENCE)).fetchall()
            assert (enrollment["state"], enrollment["stop_reason"]) == ("stopped", "replied"), enrollment
            assert enrollment["step_status"] == "sent", enrollment
            assert enrollment["step_message_id"] == outbound["sequence"]["id"], enrollment
            reply_at = conn.execute("select created_at from public.messages where id = %s",
                                    (lead["inbound_ids"][1],)).fetchone()
            assert reply_at is not None and enrollment["stopped_at"] >= reply_at["created_at"], enrollment
            executed = [e["payload"] for e in events if e["type"] == "sequence.step_executed"]
            assert [(p["enrollment_id"], p["step"], p["message_id"]) for p in executed] == [
                (str(enrollment["id"]), 1, str(outbound["sequence"]["id"]))], executed
            # The autopilot: the reply's draft waited for a person (assist mode, the pricing guard), was approved
            # and sent; autopilot.action_executed names the verdict and the message.
            (action,) = conn.execute(
                "select id, mode, status, verdict, guards, message_id, reviewed_at from public.autopilot_actions "
                "where lead_id = %s", (lead["id"],)).fetchall()
            assert (action["mode"], action["status"], action["verdict"]) == ("assist", "sent", "approved"), action
            assert "sensitive_topic" in action["guards"] and action["reviewed_at"] is not None, action
            assert action["message_id"] == outbound["autopilot"]["id"], action
            acted = [e["payload"] for e in events if e["type"] == "autopilot.action_executed"]
            assert [(p["action_id"], p["verdict"], p["message_id"]) for p in acted] == [
                (str(action["id"]), "approved", str(outbound["autopilot"]["id"]))], acted
            lead["events"] = events
        # Nothing published by hand any more.
        by_hand = conn.execute("select count(*) from public.events where source = 'demo'").fetchone()
        assert by_hand == {"count": 0}
        return [dict(lead) for lead in leads]
