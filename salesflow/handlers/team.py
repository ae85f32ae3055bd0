"""invitation.created → email the invitation link through the tenant's email connection (the outbox adapter
when it has none, so it works offline: the rendered mail is recorded with the link).

The link is `<link_base>#/team?invitation=<token>`: `link_base` is the dashboard's address the inviter's
browser gave (`invite_member(p_link_base)`), else `<SUPABASE_URL>/dashboard/` (where `salesflow dev` serves
it). The raw token exists only until the email is recorded; a redelivery after that finds no token and
does nothing (one email per invitation). A provider's refusal is recorded on the invitation
(`email_error`, shown in the dashboard); a retryable one retries the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from salesflow.channels.port import OutboundMessage, PermanentSendError, RetryableSendError
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, handles, payload_field
from salesflow.events import types as t
from salesflow.handlers.sending import ADAPTERS_SERVICE, AdapterFactory, _build_adapter
from salesflow.settings import settings

SUBJECT = {"de": "Einladung zu {tenant} in SalesFlow", "en": "You're invited to {tenant} on SalesFlow"}
BODY = {
    "de": "Hallo,\n\n{inviter} lädt Sie als {role} zu „{tenant}“ in SalesFlow ein.\n\n"
          "Einladung annehmen: {link}\n\nDer Link gilt bis {expires} und nur einmal. Melden Sie sich mit dieser "
          "Adresse ({email}) an oder registrieren Sie sich mit ihr.\n",
    "en": "Hello,\n\n{inviter} invited you to join \"{tenant}\" on SalesFlow as {role}.\n\n"
          "Accept the invitation: {link}\n\nThe link works once, until {expires}. Sign in or sign up with this "
          "address ({email}).\n",
}
ROLE_NAMES = {"de": {"member": "Mitglied", "admin": "Admin"}, "en": {"member": "member", "admin": "admin"}}


def invitation_link(link_base: str | None, token: str) -> str:
    """Where the invitee accepts: the dashboard's Team view with the token in the hash (never sent to a server
    in a request line or a Referer)."""
    base = link_base or f"{settings().SUPABASE_URL or 'http://127.0.0.1:54321'}/dashboard/"
    return f"{base.split('#', 1)[0]}#/team?invitation={token}"


def invitation_email(facts: Mapping[str, Any], tenant_id: UUID, sender: str) -> OutboundMessage:
    """The mail for one invitation, in the tenant's language."""
    inv = facts["invitation"]
    tenant = facts["tenant"]
    lang = tenant.get("locale") if tenant.get("locale") in SUBJECT else "en"
    expires = datetime.fromisoformat(str(inv["expires_at"])).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = BODY[lang].format(inviter=facts.get("invited_by") or tenant["name"], tenant=tenant["name"],
                             role=ROLE_NAMES[lang][inv["role"]], link=invitation_link(inv["link_base"], facts["token"]),
                             expires=expires, email=inv["email"])
    invitation_id = UUID(str(inv["id"]))
    return OutboundMessage(message_id=invitation_id, tenant_id=tenant_id, lead_id=invitation_id, channel="email",
                           to=inv["email"], sender=sender, subject=SUBJECT[lang].format(tenant=tenant["name"]),
                           body=text, idempotency_key=f"invitation:{invitation_id}")


@handles(t.INVITATION_CREATED)
async def send_invitation(event: Event, context: HandlerContext) -> None:
    """Send the invitation's link by email and record what was sent."""
    raw = payload_field(event, "invitation_id", str)
    try:
        invitation_id = UUID(str(raw))
    except ValueError:
        raise MalformedPayload(event.type, "invitation_id", f"must be a UUID, got {raw!r}") from None
    args = {"p_tenant_id": str(context.data.tenant_id), "p_invitation_id": str(invitation_id)}
    facts = await context.data.rpc("invitation_for_sending", args)
    if not facts or not facts.get("token") or facts["invitation"].get("accepted_at"):
        return  # withdrawn, replaced, accepted, or already sent (the token is gone): nothing to send
    factory: AdapterFactory = context.service(ADAPTERS_SERVICE) if ADAPTERS_SERVICE in context.services \
        else _build_adapter
    connection = facts.get("connection")
    try:
        if connection:
            adapter = factory(connection["provider"], "email", connection["address"],
                              connection.get("secrets") or {}, connection.get("external_account_id"))
        else:
            adapter = factory("outbox", "email", "outbox", {}, None)
    except ValueError as exc:
        await context.data.rpc("record_invitation_email", {**args, "p_provider": "none",
                                                           "p_error": f"connection_invalid: {exc}"})
        return
    sender = connection["address"] if connection else "outbox"
    message = invitation_email(facts, context.data.tenant_id, sender)
    try:
        receipt = await adapter.send(message)
    except RetryableSendError as exc:
        await context.data.rpc("record_invitation_email", {**args, "p_provider": adapter.provider,
                                                           "p_error": f"{exc.code}: {exc.reason} (retrying)"})
        raise RetryLater(f"invitation email: {exc.code}: {exc.reason}", exc.retry_after) from exc
    except PermanentSendError as exc:
        await context.data.rpc("record_invitation_email", {**args, "p_provider": adapter.provider,
                                                           "p_error": f"{exc.code}: {exc.reason}"})
        return
    await context.data.rpc("record_invitation_email", {
        **args, "p_provider": adapter.provider, "p_provider_message_id": receipt.provider_message_id,
        "p_detail": {"to": message.to, "subject": message.subject, **dict(receipt.detail)},
    })
