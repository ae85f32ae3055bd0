"""An identity linked to an existing lead by a matching phone or email is recorded, readable by the tenant's
members, and undoable by a member over /rest/v1 (the identity and its conversation go to a lead of their own);
a member of another tenant can neither read nor undo it."""

from __future__ import annotations

import httpx

from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import WHATSAPP, function_url
from tests.webhooks.payloads import encoded, meta_headers, whatsapp_message


def test_a_member_undoes_a_wrong_phone_match_over_rest(stack: RunningStack) -> None:
    # Mia Schulz's lead has phone "+49 160 5554433"; her brother writes from the family phone.
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "491605554433", name="Jonas Schulz",
                                   text="Hallo, hier Jonas, ich brauche ein eigenes Angebot"))
    assert httpx.post(function_url(stack, "whatsapp-webhook"), content=raw,
                      headers=meta_headers(WHATSAPP.secrets["app_secret"], raw)).status_code == 200
    ben = stack.sign_in("ben@acme.test")["access_token"]
    links = httpx.get(f"{stack.url}/rest/v1/identity_links", headers=stack.headers(ben),
                      params={"select": "id,matched_on,linked_by,lead_id,undone_at",
                              "lead_id": "eq.10000000-0000-4000-8000-000000000005"})
    assert links.status_code == 200, links.text
    [link] = links.json()
    assert (link["matched_on"], link["linked_by"], link["undone_at"]) == ("phone", "ingest", None)

    bea = stack.sign_in("bea@nordlicht.test")["access_token"]
    assert httpx.get(f"{stack.url}/rest/v1/identity_links", headers=stack.headers(bea),
                     params={"id": f"eq.{link['id']}"}).json() == []
    foreign = httpx.post(f"{stack.url}/rest/v1/rpc/undo_identity_link", headers=stack.headers(bea),
                         json={"p_link_id": link["id"]})
    assert foreign.status_code >= 400 and link["id"] in foreign.json()["message"]

    undone = httpx.post(f"{stack.url}/rest/v1/rpc/undo_identity_link", headers=stack.headers(ben),
                        json={"p_link_id": link["id"]})
    assert undone.status_code == 200, undone.text
    new_lead = undone.json()
    assert new_lead != "10000000-0000-4000-8000-000000000005"
    assert stack.sql("select l.name, l.source_channel, (select count(*) from public.messages m "
                     "where m.lead_id = l.id) from public.leads l where l.id = %s", (new_lead,)) == [
        ("Jonas Schulz", "whatsapp", 1)]
    assert stack.sql("select count(*) from public.messages where lead_id = '10000000-0000-4000-8000-000000000005' "
                     "and body like 'Hallo, hier Jonas%%'") == [(0,)]
    assert stack.sql("select undone_by_user_id::text, undone_to_lead_id::text from public.identity_links "
                     "where id = %s", (link["id"],)) == [("a0000000-0000-4000-8000-000000000002", new_lead)]
    # undoing twice changes nothing and answers the same lead
    twice = httpx.post(f"{stack.url}/rest/v1/rpc/undo_identity_link", headers=stack.headers(ben),
                       json={"p_link_id": link["id"]})
    assert twice.json() == new_lead
