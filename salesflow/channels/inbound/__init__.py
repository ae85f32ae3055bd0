"""Inbound provider webhooks: request models, signature checks and the ingest client the webhook functions use.

No database here (import-linter): the functions in `functions/*-webhook` and `functions/email-inbound` parse a
delivery with these models, check its signature with the connection's secret, and hand the result to
`public.record_inbound_message` / `public.record_status_callback` over `/rest/v1/rpc` (`ingest.IngestApi`).
"""

from salesflow.channels.inbound.items import InboundMessage, Route, StatusReport

__all__ = ["InboundMessage", "Route", "StatusReport"]
