"""Handlers loaded into the dashboard tests' listener (`--handlers tests.dashboard.dashboard_test_handlers`).

`test.dashboard_sync` has two handlers: `crm_sync` fails while the file named by DASHBOARD_TEST_FAIL_FILE
exists (the test removes it to let a replay succeed), `touchpoint` always succeeds, so a replay of the failed
handlers only runs `crm_sync` again."""

from __future__ import annotations

import os
from pathlib import Path

from salesflow.events import Event, HandlerContext, handles


class CrmUnavailable(RuntimeError):
    pass


@handles("test.dashboard_sync", name="crm_sync")
async def crm_sync(event: Event, context: HandlerContext) -> None:
    switch = os.environ.get("DASHBOARD_TEST_FAIL_FILE")
    if switch and Path(switch).exists():
        raise CrmUnavailable("CRM answered 503 Service Unavailable")


@handles("test.dashboard_sync", name="touchpoint")
async def touchpoint(event: Event, context: HandlerContext) -> None:
    return None
