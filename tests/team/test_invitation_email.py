"""team.send_invitation through the tenant's own email connection (a real SMTP server on 127.0.0.1): the invitee
gets one mail with the link in the tenant's language, its delivery is recorded, the raw token is dropped, a
redelivery sends nothing more, and a refusal is recorded on the invitation for the dashboard to show."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from salesflow.db.claims import act_as
from salesflow.events import types as t
from salesflow.events.registry import Registry
from salesflow.handlers.team import send_invitation
from salesflow.transports import open_postgres
from tests.channels.smtp_server import smtp_server
from tests.conftest import ACME, ANNA, member_claims
from tests.engines import engine_running
from tests.polling import wait_until
from tests.sending.conftest import connect

Conn = psycopg.Connection[Any]
LINK = re.compile(r"https://app\.example\.test/dashboard/#/team\?invitation=([0-9a-f]{64})")


def registry() -> Registry:
    r = Registry()
    r.handles(t.INVITATION_CREATED, name="team.send_invitation")(send_invitation)
    return r


def invite(db: Conn, email: str) -> str:
    db.execute("update public.events set status = 'processed', processed_at = now() where status <> 'processed'")
    act_as(db, member_claims(ANNA, ACME))
    row = db.execute("select public.invite_member(%s, 'member', 'https://app.example.test/dashboard/')",
                     (email,)).fetchone()
    db.commit()
    assert row is not None
    return str(row[0]["id"])


def invitation(db: Conn, invitation_id: str) -> dict[str, Any]:
    db.rollback()
    row = db.execute("select email_sent_at, email_error, (select count(*) from private.invitation_tokens k "
                     "where k.invitation_id = i.id) as tokens from public.invitations i where id = %s",
                     (invitation_id,)).fetchone()
    assert row is not None
    db.rollback()
    return {"sent": row[0], "error": row[1], "tokens": row[2]}


async def test_the_link_goes_out_through_the_tenants_smtp_connection(db: Conn, database: str) -> None:
    with smtp_server() as smtp:
        connect(db, "email", "smtp", "sales@acme.test", smtp.secrets())
        invitation_id = invite(db, "Ivy@Example.test")
        async with engine_running(open_postgres(database), registry()):
            await wait_until(lambda: invitation(db, invitation_id)["sent"], timeout=30, in_thread=True,
                             what="the invitation mail recorded")
        assert len(smtp.mailbox.received) == 1
        mail = smtp.mailbox.received[0]
        assert mail.rcpt_tos == ["ivy@example.test"]
        assert mail.message["Subject"] == "Einladung zu Acme Sales in SalesFlow"  # Acme's locale is de
        body = mail.message.get_content()
        found = LINK.search(body)
        assert found, body
        assert "anna@acme.test" in body
        state = invitation(db, invitation_id)
        assert state["error"] is None and state["tokens"] == 0, "the raw token is dropped once sent"
        rows = db.execute("select provider, provider_message_id from private.invitation_emails "
                          "where invitation_id = %s", (invitation_id,)).fetchall()
        assert [r[0] for r in rows] == ["smtp"]
        # The link's token is the one the row's hash was made of.
        hashed = db.execute("select encode(sha256(convert_to(%s, 'UTF8')), 'hex') = token_hash "
                            "from public.invitations where id = %s", (found[1], invitation_id)).fetchone()
        assert hashed == (True,)

        # A redelivery of the event (a replay) sends nothing more: the token is gone.
        db.execute("update public.events set status = 'pending', run_after = now(), attempts = 0 "
                   "where type = 'invitation.created' and payload ->> 'invitation_id' = %s", (invitation_id,))
        db.commit()
        async with engine_running(open_postgres(database), registry()):
            await wait_until(lambda: _processed(db, invitation_id), timeout=30, in_thread=True,
                             what="the replayed event processed")
        assert len(smtp.mailbox.received) == 1


async def test_a_refused_recipient_is_recorded_on_the_invitation(db: Conn, database: str) -> None:
    with smtp_server() as smtp:
        smtp.mailbox.refuse_rcpt = "550 5.1.1 No such user"
        connect(db, "email", "smtp", "sales@acme.test", smtp.secrets())
        invitation_id = invite(db, "nobody@example.test")
        async with engine_running(open_postgres(database), registry()):
            await wait_until(lambda: invitation(db, invitation_id)["error"], timeout=30, in_thread=True,
                             what="the refusal recorded")
        state = invitation(db, invitation_id)
        assert state["sent"] is None and "No such user" in state["error"]
        assert smtp.mailbox.received == []


def _processed(db: Conn, invitation_id: str) -> bool:
    db.rollback()
    row = db.execute("select status from public.events where type = 'invitation.created' "
                     "and payload ->> 'invitation_id' = %s", (invitation_id,)).fetchone()
    db.rollback()
    return bool(row and row[0] == "processed")
