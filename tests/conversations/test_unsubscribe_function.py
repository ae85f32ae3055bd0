"""The email one-click unsubscribe (RFC 8058) over HTTP through `salesflow dev`: a GET only shows the confirm
page (mail scanners fetch links), the one-click POST opts the lead out of email, and a forged or broken token
is refused with nothing stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from salesflow.conversations.unsubscribe import UnsubscribeRequest, make_token, unsubscribe_link
from tests.conversations.inbound import ACME
from tests.devstack.conftest import RunningStack, running_stack  # noqa: F401  (the module's stack)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _mailed_lead(stack: RunningStack) -> tuple[str, str, str]:
    """A lead we emailed: (lead id, conversation id, the sent message's id)."""
    lead, conversation, message = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    email = f"kunde-{lead[:8]}@example.de"
    stack.sql("insert into public.leads (id, tenant_id, name, email) values (%s, %s, 'Kunde', %s)", (lead, ACME, email))
    stack.sql("insert into public.conversations (id, tenant_id, lead_id, channel) values (%s, %s, %s, 'email')",
              (conversation, ACME, lead))
    stack.sql("insert into public.messages (id, tenant_id, conversation_id, direction, body, status, sent_by) "
              "values (%s, %s, %s, 'out', 'Unser Angebot', 'sent', 'user')", (message, ACME, conversation))
    return lead, conversation, message


def _link(stack: RunningStack, lead: str, message: str | None, key: str | None = None) -> str:
    request = UnsubscribeRequest(uuid.UUID(ACME), uuid.UUID(lead), "email", uuid.UUID(message) if message else None)
    return unsubscribe_link(stack.url, request, key or stack.stack.service_role_key)


def _stored(stack: RunningStack, lead: str) -> dict[str, Any]:
    return {
        "consents": stack.sql("select channel::text, status, method, source_message_id::text from public.consents "
                              "where lead_id = %s", (lead,)),
        "opted_out_events": stack.sql("select payload->>'consent_id' from public.events "
                                      "where type = 'lead.opted_out' and payload->>'lead_id' = %s", (lead,)),
    }


NOTHING = {"consents": [], "opted_out_events": []}


def test_a_get_of_the_link_shows_a_confirm_page_and_opts_nobody_out(running_stack: RunningStack) -> None:  # noqa: F811
    lead, _, message = _mailed_lead(running_stack)
    link = _link(running_stack, lead, message)
    german = httpx.get(link, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    english = httpx.get(link, headers={"Accept-Language": "en-GB"})
    assert german.status_code == 200 and german.headers["content-type"].startswith("text/html")
    assert "Ja, abmelden" in german.text and '<form method="post"' in german.text
    assert 'name="List-Unsubscribe" value="One-Click"' in german.text
    assert "Yes, unsubscribe" in english.text
    assert _stored(running_stack, lead) == NOTHING


def test_the_one_click_post_opts_the_lead_out_of_email_once(running_stack: RunningStack) -> None:  # noqa: F811
    lead, conversation, message = _mailed_lead(running_stack)
    link = _link(running_stack, lead, message)
    # What a mail client sends for List-Unsubscribe-Post: a form body, no JWT, no apikey.
    first = httpx.post(link, data=ONE_CLICK)
    assert first.status_code == 200, first.text
    assert first.json() == {"unsubscribed": True, "channel": "email"}
    again = httpx.post(link, data=ONE_CLICK)
    assert again.status_code == 200
    stored = _stored(running_stack, lead)
    assert stored["consents"] == [("email", "opted_out", "email_unsubscribe", message)]
    assert len(stored["opted_out_events"]) == 1  # the repeat published nothing new
    # The next email to the lead is refused by the database, whoever sends it.
    with psycopg.connect(running_stack.database_url) as conn:
        conn.execute("set role service_role")
        with pytest.raises(psycopg.errors.CheckViolation, match="opted out of email"):
            conn.execute("insert into public.messages (tenant_id, conversation_id, direction, body, sent_by) "
                         "values (%s, %s, 'out', 'Noch ein Angebot', 'sequence')", (ACME, conversation))


def test_the_confirm_page_button_opts_out_and_answers_a_page(running_stack: RunningStack) -> None:  # noqa: F811
    lead, _, message = _mailed_lead(running_stack)
    link = _link(running_stack, lead, message) + "&lang=de"
    answer = httpx.post(link, data=ONE_CLICK, headers={"Accept": "text/html,application/xhtml+xml"})
    assert answer.status_code == 200 and "keine E-Mails mehr" in answer.text
    assert _stored(running_stack, lead)["consents"] == [("email", "opted_out", "email_unsubscribe", message)]


@pytest.mark.parametrize("tamper", ["forged", "payload_swapped", "malformed", "missing"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_or_broken_token_is_refused_and_nothing_is_stored(
    running_stack: RunningStack, tamper: str, method: str  # noqa: F811
) -> None:
    lead, _, message = _mailed_lead(running_stack)
    base = f"{running_stack.url}/functions/v1/email-unsubscribe"
    genuine = make_token(UnsubscribeRequest(uuid.UUID(ACME), uuid.UUID(lead), "email", uuid.UUID(message)),
                         running_stack.stack.service_role_key)
    if tamper == "forged":  # signed with a key that is not the project's
        url = _link(running_stack, lead, message, key="not-the-service-role-key")
        expected = 401
    elif tamper == "payload_swapped":  # someone else's lead with this link's signature
        other = make_token(UnsubscribeRequest(uuid.UUID(ACME), uuid.uuid4(), "email", None), "x")
        url = f"{base}?token={other.split('.')[0]}.{genuine.split('.')[1]}"
        expected = 401
    elif tamper == "malformed":
        url = f"{base}?token=not-a-token"
        expected = 400
    else:
        url = base
        expected = 400
    answer = httpx.request(method, url, data=ONE_CLICK if method == "POST" else None)
    assert answer.status_code == expected, answer.text
    assert answer.json()["field"] == "token"
    assert _stored(running_stack, lead) == NOTHING


def test_a_post_without_the_one_click_body_is_refused_naming_it(running_stack: RunningStack) -> None:  # noqa: F811
    lead, _, message = _mailed_lead(running_stack)
    answer = httpx.post(_link(running_stack, lead, message), data={"List-Unsubscribe": "yes"})
    assert answer.status_code == 400 and answer.json()["field"] == "List-Unsubscribe"
    assert _stored(running_stack, lead) == NOTHING
