"""Webhook targets: a Slack-compatible JSON body (`text` for any receiver, `blocks` for Slack, `attachments` for
the colour bar; the whole alert under `alert` for machines), signed in the Standard Webhooks format:
`webhook-id` (the notification id, the same on every retry so a receiver can deduplicate), `webhook-timestamp`
(Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the target's
`whsec_` secret (the `standardwebhooks` reference library signs). A 2xx is sent; 408, 429, 5xx, timeouts and
connection errors are tried again with backoff; any other 4xx is permanent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from salesflow.alerts.notifiers import Notification, SendOutcome
from salesflow.alerts.notifiers.text import COLOURS, alert_of, event_links, facts, headline
from salesflow.alerts.settings import AlertSettings

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def body(notification: Notification, settings: AlertSettings) -> dict[str, Any]:
    """The JSON a webhook target receives."""
    alert = alert_of(notification)
    links = event_links(alert, settings)
    text = headline(notification)
    lines = "\n".join(f"*{k}:* {v}" for k, v in facts(notification))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
    ]
    if links:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*events:*\n" + "\n".join(links)}})
    colour = COLOURS["resolved"] if notification.transition == "resolved" else COLOURS.get(str(alert["severity"]))
    return {
        "text": text,
        "blocks": blocks,
        "attachments": [{"color": colour, "fallback": text,
                         "fields": [{"title": k, "value": v, "short": True} for k, v in facts(notification)]}],
        "transition": notification.transition,
        "tenant": {"id": notification.tenant_id, "name": notification.tenant_name},
        "alert": dict(alert),
        "event_links": links,
    }


def signed_headers(secret: str, msg_id: str, payload: bytes, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for `payload`."""
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=payload.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature,
            "content-type": "application/json", "user-agent": "SalesFlow-Alerts/1"}


async def send_webhook(notification: Notification, settings: AlertSettings,
                       client: httpx.AsyncClient | None = None) -> SendOutcome:
    target = notification.target
    if not target.url:
        return SendOutcome("failed", error="notification_targets.url: the webhook target has no URL")
    if not target.secret:
        return SendOutcome("failed", error="the webhook target has no signing secret")
    payload = orjson.dumps(body(notification, settings))
    headers = signed_headers(target.secret, f"msg_{notification.id}", payload)
    own = client is None
    http = client or httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    try:
        response = await http.post(target.url, content=payload, headers=headers)
    except httpx.TimeoutException as exc:
        return SendOutcome("retry", error=f"timeout after {settings.webhook_timeout_seconds:g} s: {exc}".strip())
    except httpx.HTTPError as exc:
        return SendOutcome("retry", error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if own:
            await http.aclose()
    status = response.status_code
    if 200 <= status < 300:
        return SendOutcome("sent", response_status=status)
    reason = f"HTTP {status}: {response.text[:300]}"
    if status >= 500 or status in RETRYABLE_STATUSES:
        return SendOutcome("retry", error=reason, response_status=status)
    return SendOutcome("failed", error=reason, response_status=status)
