"""What the transports' wake-ups share: a background task keeps a channel up and signals; the engine waits.

A wake-up is only a hint (DESIGN.md, principle 2): the engine also polls. Subclasses run their channel in
`_run()` (reconnecting forever, setting `_connected`, counting `_reconnects`, setting `_first_attempt`
after the first try and `_woken` on every hint) and close it in `_disconnect()`.
"""

from __future__ import annotations

import asyncio


class SupervisedWakeup:
    """The `Wakeup` port's bookkeeping: start, wait, close, health."""

    task_name = "salesflow-wakeup"

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._ever_connected = False
        self._reconnects = 0
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        """Whether the channel is established now (health)."""
        return self._connected

    @property
    def reconnects(self) -> int:
        """How many times the channel was re-established after a loss."""
        return self._reconnects

    async def start(self) -> None:
        """Begin; returns once the first attempt to connect finished, successfully or not."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.task_name)
        await self._first_attempt.wait()

    async def wait(self, timeout: float) -> bool:
        """Wait for a hint, at most `timeout` seconds. True when woken, False on timeout."""
        if not self._woken.is_set():
            try:
                async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                    await self._woken.wait()
            except TimeoutError:
                return False
        self._woken.clear()
        return True

    async def close(self) -> None:
        """Stop the background task and close the channel."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._disconnect()
        self._connected = False

    async def _run(self) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Close the channel's connection, if any."""
