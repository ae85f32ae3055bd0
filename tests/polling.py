"""The suite's one poll-until helper, in an async and a sync form.

Tests never assert on time; they wait for what a user would observe (a row, a status, a message) and fail
with the condition's description once `timeout` passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    check: Callable[[], T], timeout: float = 30.0, every: float = 0.02, in_thread: bool = False, what: str = ""
) -> T:
    """Poll `check` until it returns something truthy, and return that; fail after `timeout` seconds.

    `in_thread`: run a blocking check (a query over its own connection) in a worker thread, so the event
    loop, where the code under test runs, keeps running meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check) if in_thread else check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(every)


def wait_until_sync(check: Callable[[], T], timeout: float = 30.0, every: float = 0.02, what: str = "") -> T:
    """`wait_until` for synchronous tests: poll `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {value!r})")
        time.sleep(every)
