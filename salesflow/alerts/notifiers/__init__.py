"""Where alerts go. A claimed notification (`Notification`, from public.claim_alert_notifications) is sent by the
notifier of its target's kind and comes back as a `SendOutcome` the sender records (finish_alert_notifications):
sent, failed for good (a 4xx, bad configuration) or retry (5xx, timeouts, SMTP 4xx) with backoff.

- webhook: Slack-compatible JSON (`text` + `blocks` + `attachments`) signed in the Standard Webhooks format;
- email: a plain-text mail over SMTP (aiosmtplib);
- dashboard: nothing is sent, the `alerts` row is what the dashboard shows (over RLS and Realtime).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from salesflow.alerts.settings import AlertSettings


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    kind: str
    url: str | None = None
    email: str | None = None
    secret: str | None = None


@dataclass(frozen=True)
class Notification:
    """One send: the alert (None for a test), its transition, where to, and the how-many-th attempt this is."""

    id: str
    tenant_id: str
    tenant_name: str
    transition: str  # firing | resolved | test
    attempts: int
    target: Target
    alert: Mapping[str, Any] | None = None

    @classmethod
    def from_claim(cls, row: Mapping[str, Any]) -> Notification:
        t = row["target"]
        return cls(id=str(row["id"]), tenant_id=str(row["tenant_id"]), tenant_name=str(row.get("tenant_name") or ""),
                   transition=str(row["transition"]), attempts=int(row.get("attempts") or 1),
                   target=Target(id=str(t["id"]), name=str(t["name"]), kind=str(t["kind"]), url=t.get("url"),
                                 email=t.get("email"), secret=t.get("secret")),
                   alert=row.get("alert"))


@dataclass(frozen=True)
class SendOutcome:
    outcome: Literal["sent", "failed", "retry"]
    error: str | None = None
    response_status: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def test_alert(tenant_id: str) -> dict[str, Any]:
    """The alert a test notification describes (`salesflow alerts test`)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat()
    return {"id": None, "tenant_id": tenant_id, "rule_id": None, "metric": "test", "dedup_key": "test",
            "status": "firing", "severity": "info", "summary": "Test notification from salesflow alerts test",
            "first_seen_at": now, "last_seen_at": now, "resolved_at": None, "count": 1, "event_ids": [],
            "details": {}}


async def send(notification: Notification, settings: AlertSettings) -> SendOutcome:
    """Send one notification with the notifier of its target's kind."""
    kind = notification.target.kind
    if kind == "webhook":
        from salesflow.alerts.notifiers.webhook import send_webhook

        return await send_webhook(notification, settings)
    if kind == "email":
        from salesflow.alerts.notifiers.email import send_email

        return await send_email(notification, settings)
    if kind == "dashboard":
        return SendOutcome("sent", details={"note": "the dashboard shows the alerts row itself"})
    return SendOutcome("failed", error=f"target.kind: {kind!r} is not one of webhook, email, dashboard")
