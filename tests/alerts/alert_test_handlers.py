"""Handlers loaded into the alerting tests' listener processes (`--handlers tests.alerts.alert_test_handlers`)."""

from __future__ import annotations

from salesflow.events import Event, HandlerContext, PermanentFailure, handles


@handles("test.alert_fail")
async def always_fails(event: Event, context: HandlerContext) -> None:
    """A handler that fails for good: its event goes to the dead letter (failed) at once."""
    raise PermanentFailure("the alerting test handler always fails")


@handles("test.alert_ok")
async def always_succeeds(event: Event, context: HandlerContext) -> None:
    """A handler that succeeds (the failure rate's denominator)."""
