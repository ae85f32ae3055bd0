"""Email targets: a plain-text mail over SMTP (aiosmtplib; STARTTLS, implicit TLS or none, AUTH when a user is
set), from SALESFLOW_ALERT_SMTP_*. SMTP 4xx replies and connection failures are tried again with backoff; 5xx
replies and a missing SMTP configuration are permanent."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal

import aiosmtplib

from salesflow.alerts.notifiers import Notification, SendOutcome
from salesflow.alerts.notifiers.text import alert_of, event_links, facts, headline
from salesflow.alerts.settings import AlertSettings


def render(notification: Notification, settings: AlertSettings) -> EmailMessage:
    """The mail for one notification."""
    alert = alert_of(notification)
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = notification.target.email or ""
    mail["Subject"] = headline(notification)[:200]
    domain = settings.smtp_from.rsplit("@", 1)[-1] or "salesflow.invalid"
    mail["Message-ID"] = make_msgid(idstring=f"alert.{notification.id}.{notification.attempts}", domain=domain)
    mail["X-SalesFlow-Alert"] = f"{alert['dedup_key']}; {notification.transition}"
    lines = [headline(notification), ""] + [f"{k}: {v}" for k, v in facts(notification)]
    links = event_links(alert, settings)
    if links:
        lines += ["", "Failing events:", *links]
    mail.set_content("\n".join(lines) + "\n")
    return mail


async def send_email(notification: Notification, settings: AlertSettings) -> SendOutcome:
    if not notification.target.email:
        return SendOutcome("failed", error="notification_targets.email: the email target has no address")
    if not settings.smtp_host:
        return SendOutcome("failed", error="SALESFLOW_ALERT_SMTP_HOST: no SMTP server configured for alert mail")
    try:
        await aiosmtplib.send(
            render(notification, settings), hostname=settings.smtp_host, port=settings.smtp_port,
            username=settings.smtp_username, password=settings.smtp_password,
            use_tls=settings.smtp_security == "tls", start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPResponseException as exc:
        outcome: Literal["retry", "failed"] = "retry" if 400 <= exc.code < 500 else "failed"
        return SendOutcome(outcome, error=f"SMTP {exc.code}: {exc.message}"[:500], response_status=exc.code)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return SendOutcome("retry", error=f"{type(exc).__name__}: {exc}"[:500])
    return SendOutcome("sent", response_status=250)
