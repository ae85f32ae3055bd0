"""What a notification says, shared by the webhook and email notifiers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salesflow.alerts.notifiers import Notification, test_alert
from salesflow.alerts.settings import AlertSettings

LABELS = {"firing": "FIRING", "resolved": "RESOLVED", "test": "TEST"}
COLOURS = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fbf", "resolved": "#2e7d32"}


def alert_of(notification: Notification) -> Mapping[str, Any]:
    return notification.alert or test_alert(notification.tenant_id)


def headline(notification: Notification) -> str:
    alert = alert_of(notification)
    tenant = notification.tenant_name or notification.tenant_id
    return f"[{LABELS.get(notification.transition, notification.transition.upper())}] {alert['severity']} · " \
           f"{tenant}: {alert['summary']}"


def event_links(alert: Mapping[str, Any], settings: AlertSettings) -> list[str]:
    """Links to the failing events in the dashboard (`#/events?id=`), or their ids without a dashboard URL."""
    ids = [str(i) for i in (alert.get("event_ids") or [])][:10]
    if not settings.dashboard_url:
        return ids
    base = settings.dashboard_url.rstrip("/")
    return [f"{base}/#/events?id={i}" for i in ids]


def facts(notification: Notification) -> list[tuple[str, str]]:
    alert = alert_of(notification)
    rows = [("metric", str(alert["metric"])), ("status", str(alert["status"])), ("count", str(alert["count"])),
            ("first seen", str(alert["first_seen_at"])), ("last seen", str(alert["last_seen_at"]))]
    if alert.get("resolved_at"):
        rows.append(("resolved", str(alert["resolved_at"])))
    rows.append(("dedup key", str(alert["dedup_key"])))
    return rows
