"""Prometheus metrics of one engine (its own registry, so several engines in one process never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EngineMetrics:
    """What `salesflow listen --metrics-port` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.processed = Counter("salesflow_events_processed", "Events processed.", ["type"], registry=r)
        self.failed = Counter("salesflow_events_failed", "Events moved to failed (dead letter).", ["type"],
                              registry=r)
        self.retried = Counter("salesflow_events_retried", "Event attempts that will be retried.", ["type"],
                               registry=r)
        self.unhandled = Counter("salesflow_events_unhandled", "Events with no handler for their type.",
                                 ["type"], registry=r)
        self.claimed = Counter("salesflow_events_claimed", "Events claimed.", registry=r)
        self.lease_recoveries = Counter("salesflow_event_leases_recovered",
                                        "Expired leases returned to pending by this worker.", registry=r)
        self.lost = Counter("salesflow_events_lost",
                            "Events the store refused to finish or extend because this worker no longer "
                            "held them (its lease or hold expired and the event was recovered).",
                            ["operation"], registry=r)
        self.pruned = Counter("salesflow_events_pruned", "Processed events deleted by retention.", registry=r)
        self.store_errors = Counter("salesflow_event_store_errors", "Failed calls to the event store.",
                                    ["operation"], registry=r)
        self.in_flight = Gauge("salesflow_events_in_flight", "Events whose handlers are running.", registry=r)
        self.pending = Gauge("salesflow_events_pending", "Pending events (due or not).", registry=r)
        self.lag = Gauge("salesflow_events_oldest_pending_age_seconds",
                         "Age of the oldest due pending event (0 when none).", registry=r)
        self.wakeup_connected = Gauge("salesflow_wakeup_connected",
                                      "1 while the wake-up channel (LISTEN or Realtime) is connected.",
                                      registry=r)
        self.handler_duration = Histogram(
            "salesflow_handler_duration_seconds", "Handler run time.", ["handler", "status"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
