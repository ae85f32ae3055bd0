"""Provider webhook bodies as the providers send them (shapes from their documentation), and their signatures."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from salesflow.channels.inbound.signatures import meta_signature, twilio_signature


def wamid() -> str:
    return "wamid.HBgN" + uuid.uuid4().hex.upper()


def whatsapp_message(phone_number_id: str, sender: str, text: str = "Hallo, was kostet das Paket?",
                     name: str | None = "Neue Kundin", message_id: str | None = None,
                     display_number: str = "493012345678") -> dict[str, Any]:
    """A WhatsApp Cloud API `messages` webhook with one text message from `sender` (wa_id, no plus)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_number, "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": name}, "wa_id": sender}] if name else [],
        "messages": [{"from": sender, "id": message_id or wamid(), "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}],
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]}


def whatsapp_status(phone_number_id: str, message_id: str, status: str, recipient: str = "4915112345678",
                    at: int | None = None) -> dict[str, Any]:
    """A WhatsApp Cloud API `statuses` webhook for one outbound message."""
    entry: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(at or int(time.time())),
                             "recipient_id": recipient}
    if status == "failed":
        entry["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "493012345678", "phone_number_id": phone_number_id},
             "statuses": [entry]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]}


def instagram_message(account_id: str, sender: str, text: str = "Hi! Is the course still available?",
                      mid: str | None = None) -> dict[str, Any]:
    """An Instagram Messaging webhook with one direct message from `sender` (an IGSID)."""
    now = int(time.time() * 1000)
    return {"object": "instagram", "entry": [{"id": account_id, "time": now, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": account_id}, "timestamp": now,
        "message": {"mid": mid or "aWdfZAG1faXRlbToxOklH" + uuid.uuid4().hex, "text": text}}]}]}


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def meta_headers(secret: str, raw: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(secret, raw)}


def twilio_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def twilio_inbound(to: str, sender: str, body: str = "Hallo, bitte um Rückruf", sid: str | None = None,
                   account_sid: str = "AC" + "a" * 32) -> dict[str, str]:
    """An inbound SMS as Twilio posts it to the number's messaging webhook."""
    sid = sid or twilio_sid()
    return {"ToCountry": "DE", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
            "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
            "FromCountry": "DE", "To": to, "ToZip": "", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": account_sid, "From": sender, "ApiVersion": "2010-04-01"}


def twilio_status(sender: str, to: str, sid: str, status: str, account_sid: str = "AC" + "a" * 32,
                  error_code: str | None = None) -> dict[str, str]:
    """A Twilio status callback for an outbound SMS (From is our number)."""
    params = {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": to, "MessageSid": sid,
              "AccountSid": account_sid, "From": sender, "ApiVersion": "2010-04-01"}
    if error_code:
        params["ErrorCode"] = error_code
    return params


def twilio_headers(token: str, url: str, params: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(token, url, params)}


def postmark_inbound(to: str, sender: str = "Lena Neu <lena.neu@example.org>", subject: str = "Anfrage Angebot",
                     text: str = "Guten Tag, ich interessiere mich für Ihr Angebot.",
                     message_id: str | None = None, in_reply_to: str | None = None) -> dict[str, Any]:
    """A Postmark inbound webhook body (the documented example's fields)."""
    name, _, address = sender.partition(" <")
    address = address.rstrip(">") or sender
    headers = [{"Name": "Message-ID", "Value": message_id or f"<{uuid.uuid4().hex}@mail.example.org>"},
               {"Name": "Date", "Value": "Wed, 2 Dec 2026 09:30:00 +0100"}]
    if in_reply_to:
        headers.append({"Name": "In-Reply-To", "Value": in_reply_to})
    return {"FromName": name, "MessageStream": "inbound", "From": address,
            "FromFull": {"Email": address, "Name": name, "MailboxHash": ""},
            "To": to, "ToFull": [{"Email": to, "Name": "", "MailboxHash": ""}], "Cc": "", "CcFull": [],
            "Bcc": "", "BccFull": [], "OriginalRecipient": to, "Subject": subject,
            "MessageID": str(uuid.uuid4()), "ReplyTo": "", "MailboxHash": "",
            "Date": "Wed, 2 Dec 2026 09:30:00 +0100", "TextBody": text, "HtmlBody": f"<p>{text}</p>",
            "StrippedTextReply": "", "Tag": "", "Headers": headers, "Attachments": []}


def sendgrid_fields(to: str, sender: str = "Max Käufer <max.kaeufer@example.com>", subject: str = "Frage",
                    text: str = "Hallo, haben Sie noch Termine frei?",
                    message_id: str | None = None) -> dict[str, str]:
    """The text fields of a SendGrid Inbound Parse POST (multipart/form-data)."""
    message_id = message_id or f"<{uuid.uuid4().hex}@mail.example.com>"
    headers = (f"Received: by mx.sendgrid.net\nMessage-ID: {message_id}\nDate: Wed, 2 Dec 2026 09:30:00 +0100\n"
               f"From: {sender}\nTo: {to}\nSubject: {subject}\n")
    return {"headers": headers, "dkim": "{@example.com : pass}", "to": to, "from": sender, "subject": subject,
            "text": text, "html": f"<p>{text}</p>", "sender_ip": "192.0.2.1", "SPF": "pass",
            "envelope": json.dumps({"to": [to], "from": sender.split("<")[-1].rstrip(">")}),
            "attachments": "0", "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "text": "UTF-8"})}
