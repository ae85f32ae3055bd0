"""Event handlers. Every module here is imported by the listener; decorate handlers with
`@handles("<event type>")` from `salesflow.events`.

A handler is `async def name(event, context) -> None`, idempotent (it may run more than once for one
event), writes only through `context.data` (scoped to the event's tenant), raises `RetryLater` or
`PermanentFailure` to steer the event, and keeps its name stable (deliveries are recorded by name).
"""
