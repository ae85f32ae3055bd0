"""Email through a real SMTP submission server (`aiosmtplib`, async, STARTTLS or implicit TLS, AUTH).

Each mail carries a `Message-ID` made from our message id (`<salesflow.<uuid>@<sender domain>>`), which is
the provider message id: a reply's `In-Reply-To` names it, and the same message rendered twice has the same id.
A reply threads with `In-Reply-To` and `References` (the earlier ids plus the one replied to). Outreach carries
RFC 8058 one-click unsubscribe: `List-Unsubscribe: <https://...>, <mailto:...>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (only with an https link, as RFC 8058 requires).

SMTP reply codes classify failures: 4xx (mailbox busy, greylisting, too many connections) retry later, 5xx
(no such user, relay denied, rejected as spam, bad credentials) fail with the server's words. SMTP cannot be
asked what it accepted, so `can_look_up` is false: a crash after DATA leaves the message `unknown`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from typing import Any, Final

import aiosmtplib

from salesflow.channels.credentials import SmtpFields
from salesflow.channels.port import (
    LookupResult,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
)
from salesflow.channels.rules import check_message

# Headers unfolded up to RFC 5322's hard limit of 998: a long List-Unsubscribe link folded right after the
# colon reaches some parsers with a leading space inside the <...> list.
_POLICY: Final = SMTP_POLICY.clone(max_line_length=998)


def _angle(message_id: str) -> str:
    value = message_id.strip()
    return value if value.startswith("<") and value.endswith(">") else f"<{value.strip('<>')}>"


def message_id_for(message: OutboundMessage, sender: str) -> str:
    """The Message-ID of `message` sent from `sender` (stable: the same message always gets the same id)."""
    domain = sender.rsplit("@", 1)[-1] or "salesflow.invalid"
    return f"<salesflow.{message.message_id}@{domain}>"


def render(message: OutboundMessage, sender: str, from_name: str | None, now: datetime) -> EmailMessage:
    """The MIME message for `message` (text/plain, UTF-8) with its threading and unsubscribe headers."""
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = formataddr((from_name, sender)) if from_name else sender
    mail["To"] = message.to
    mail["Subject"] = message.subject or (f"Message from {from_name}" if from_name else f"Message from {sender}")
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = message_id_for(message, sender)
    if message.in_reply_to:
        mail["In-Reply-To"] = _angle(message.in_reply_to)
    references = [_angle(ref) for ref in message.references]
    if message.in_reply_to and _angle(message.in_reply_to) not in references:
        references.append(_angle(message.in_reply_to))
    if references:
        mail["References"] = " ".join(references)
    links = []
    if message.unsubscribe_url:
        links.append(f"<{message.unsubscribe_url}>")
    if message.unsubscribe_mailto:
        mailto = message.unsubscribe_mailto
        links.append(f"<{mailto if mailto.startswith('mailto:') else 'mailto:' + mailto}>")
    if links:
        mail["List-Unsubscribe"] = ", ".join(links)
    if message.unsubscribe_url and message.unsubscribe_url.startswith("https://"):
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.body or "", subtype="plain", charset="utf-8", cte="quoted-printable")
    return mail


def rendered_detail(mail: EmailMessage, sender: str, recipients: Sequence[str]) -> dict[str, Any]:
    """A JSON-ready record of the mail: the envelope, the headers and the whole MIME text."""
    return {
        "envelope_from": sender,
        "envelope_to": list(recipients),
        "headers": {key: str(value) for key, value in mail.items()},
        "body": mail.get_content() if not mail.is_multipart() else None,
        "mime": mail.as_string(),
    }


def smtp_error(error: Exception, *, after_data_started: bool) -> SendError:
    """An aiosmtplib failure, classified by its SMTP reply code (4xx retry, 5xx permanent)."""
    if isinstance(error, aiosmtplib.SMTPNotSupported) or type(error) is aiosmtplib.SMTPException:
        # STARTTLS or AUTH configured but not offered by the server: retrying cannot help
        return PermanentSendError("smtp_not_supported", f"email: {error}")
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        first = error.recipients[0]
        return _by_code(first.code, f"email: {first.recipient} refused: {first.message}")
    if isinstance(error, aiosmtplib.SMTPResponseException) and not isinstance(
        error, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError
    ):
        return _by_code(error.code, f"email: {error.message}")
    if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return RetryableSendError("timeout", f"email: the SMTP server did not answer in time ({error})",
                                  maybe_accepted=after_data_started)
    return RetryableSendError("connection_error",
                              f"email: the SMTP connection failed ({error or type(error).__name__})",
                              maybe_accepted=after_data_started)


def _by_code(code: int, reason: str) -> SendError:
    if 400 <= code < 500:
        return RetryableSendError(f"smtp_{code}", reason, provider_code=str(code))
    return PermanentSendError(f"smtp_{code}", reason, provider_code=str(code))


@dataclass(frozen=True, slots=True)
class _Session:
    """Connection settings of one SMTP server."""

    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool | None
    use_tls: bool
    timeout: float

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(hostname=self.host, port=self.port, username=self.username, password=self.password,
                               use_tls=self.use_tls, start_tls=self.starttls, timeout=self.timeout)


class SmtpEmailAdapter:
    """One sending address on an SMTP server."""

    channel = "email"
    can_look_up = False

    def __init__(self, address: str, secrets: SmtpFields, *, provider: str = "smtp",
                 clock: Callable[[], datetime] | None = None) -> None:
        if not secrets.host:
            raise ValueError(f"{provider} secrets: host: required to send email (the SMTP submission server)")
        self.provider = provider
        self.address = address
        self.from_name = secrets.from_name
        self._session = _Session(secrets.host, secrets.port, secrets.username,
                                 secrets.password.get_secret_value() if secrets.password else None,
                                 False if secrets.use_tls else secrets.starttls, secrets.use_tls, secrets.timeout)
        self._clock = clock or (lambda: datetime.now(UTC))

    def check(self, message: OutboundMessage, now: datetime) -> None:
        """Content (text only) and length."""
        check_message(message, now)

    def render(self, message: OutboundMessage) -> EmailMessage:
        return render(message, self.address, self.from_name, self._clock())

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Submit the mail; the server's final reply is in the receipt."""
        self.check(message, self._clock())
        mail = self.render(message)
        smtp = self._session.client()
        data_started = False
        try:
            await smtp.connect()
            data_started = True  # from here the server may accept the mail before we hear back
            # The bytes as rendered: send_message would refold headers with its own policy.
            refused, reply = await smtp.sendmail(self.address, [message.to], mail.as_bytes())
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise smtp_error(error, after_data_started=data_started) from None
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    smtp.close()
        if refused:
            code, text = next(iter(refused.values()))
            raise _by_code(code, f"email: {message.to} refused: {text}")
        return SendReceipt(provider_message_id=str(mail["Message-ID"]), accepted_at=self._clock(),
                           detail={"smtp_reply": reply})

    async def look_up(self, message: OutboundMessage) -> LookupResult | None:
        """SMTP cannot be asked what it accepted: None (the message becomes unknown)."""
        return None

    async def verify(self) -> str:
        """Connect, EHLO (and STARTTLS / AUTH as configured), NOOP, QUIT: proves host, TLS and credentials."""
        smtp = self._session.client()
        try:
            await smtp.connect()
            await smtp.ehlo()
            noop = await smtp.noop()
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            smtp.close()
            raise smtp_error(error, after_data_started=False) from None
        return f"smtp {self._session.host}:{self._session.port} answered NOOP with {noop.code}"
