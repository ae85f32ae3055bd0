"""Refused signatures are counted for the webhook_signature_failures alert (issue #13), and only counted: a 401
still stores nothing of the request (the counter is private.webhook_signature_failures, a number per
connection and minute; tests/webhooks/conftest.py STORED_TABLES lists where requests land, and it is not one
of them)."""

from __future__ import annotations

import httpx

from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import EMAIL, WHATSAPP, counts, function_url
from tests.webhooks.payloads import encoded, meta_headers, postmark_inbound, whatsapp_message


def refused(stack: RunningStack, connection_id: str) -> int:
    rows = stack.sql("select coalesce(sum(count), 0)::int from private.webhook_signature_failures "
                     "where connection_id = %s", (connection_id,))
    return int(rows[0][0])


def evaluate(stack: RunningStack) -> None:
    stack.sql("select public.evaluate_alerts('test-signature-evaluator', 0)")
    stack.sql("select public.listener_heartbeat('test-signature-evaluator', true)")


def signature_alerts(stack: RunningStack, tenant: str) -> list[tuple[str, dict[str, object]]]:
    rows = stack.sql("select a.status, a.details from public.alerts a where a.tenant_id = %s "
                     "and a.metric = 'webhook_signature_failures' order by a.first_seen_at", (tenant,))
    return [(str(status), dict(details or {})) for status, details in rows]


def test_forged_deliveries_are_counted_and_fire_the_alert(stack: RunningStack) -> None:
    # The default rule: failed / all deliveries of 15 min >= 0.5, with at least 5 deliveries.
    before_refused = refused(stack, WHATSAPP.id)
    before = counts(stack)
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4917655500001",
                                   text="Ist das Angebot noch gültig?"))
    for _ in range(6):
        response = httpx.post(function_url(stack, "whatsapp-webhook"), content=raw,
                              headers=meta_headers("forged-secret", raw))
        assert response.status_code == 401, response.text
    assert counts(stack) == before  # nothing of the requests stored
    assert refused(stack, WHATSAPP.id) == before_refused + 6

    evaluate(stack)
    firing = [d for status, d in signature_alerts(stack, ACME) if status == "firing"]
    assert firing, signature_alerts(stack, ACME)
    assert int(str(firing[-1]["refused"])) >= 6
    assert float(str(firing[-1]["rate"])) >= 0.5
    assert not signature_alerts(stack, NORDLICHT)  # Acme's forgeries never alert Nordlicht


def test_refused_basic_auth_is_counted_and_a_valid_delivery_is_not(stack: RunningStack) -> None:
    before_refused = refused(stack, EMAIL.id)
    body = postmark_inbound(EMAIL.address, text="Hallo, ist das noch aktuell?")
    response = httpx.post(function_url(stack, "email-inbound"), json=body, auth=("postmark", "wrong-password"))
    assert response.status_code == 401, response.text
    assert refused(stack, EMAIL.id) == before_refused + 1
    valid = httpx.post(function_url(stack, "email-inbound"), json=body,
                       auth=(EMAIL.secrets["inbound_username"], EMAIL.secrets["inbound_password"]))
    assert valid.status_code == 200, valid.text
    assert refused(stack, EMAIL.id) == before_refused + 1


def test_a_lost_count_still_answers_401(stack: RunningStack) -> None:
    # The counter refuses writes (as if it were unreachable): the provider still gets its 401, never a 5xx.
    stack.sql("revoke execute on function public.note_webhook_signature_failure(uuid) from service_role")
    try:
        before_refused = refused(stack, WHATSAPP.id)
        raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4917655500002"))
        response = httpx.post(function_url(stack, "whatsapp-webhook"), content=raw,
                              headers=meta_headers("forged-secret", raw))
        assert response.status_code == 401, response.text
        assert refused(stack, WHATSAPP.id) == before_refused  # the count was refused, the answer was not
    finally:
        stack.sql("grant execute on function public.note_webhook_signature_failure(uuid) to service_role")
