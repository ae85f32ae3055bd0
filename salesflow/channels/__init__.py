"""Channel adapters: one module per provider behind one port (`salesflow.channels.port`).

The send job (`salesflow.handlers.sending`) is the only caller: it builds an `OutboundMessage` from the
message row, asks `adapter.check()` for the provider's rules (window, length), records `sending`, then calls
`adapter.send()`. After a crash, `adapter.look_up()` reconciles a message found `sending` where the provider
allows it; otherwise the message becomes `unknown` for a person to decide (docs/channels.md).

`build_adapter(provider, channel, address, secrets, *, http=None, external_account_id=None)` builds the adapter
of one connection; `normalise_address` (in `addresses`) gives an address its one normal form.
"""

from salesflow.channels.addresses import normalise_address, try_normalise_address
from salesflow.channels.credentials import CredentialsError, parse_secrets
from salesflow.channels.factory import (
    build_adapter,
    build_adapter_for_connection,
    check_provider_serves,
    outbox_adapter,
)
from salesflow.channels.port import (
    ChannelAdapter,
    LookupResult,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
    VerifiableAdapter,
)
from salesflow.channels.rules import LENGTH_LIMITS

__all__ = [
    "LENGTH_LIMITS",
    "ChannelAdapter",
    "CredentialsError",
    "LookupResult",
    "OutboundMessage",
    "PermanentSendError",
    "RetryableSendError",
    "SendError",
    "SendReceipt",
    "VerifiableAdapter",
    "build_adapter",
    "build_adapter_for_connection",
    "check_provider_serves",
    "normalise_address",
    "outbox_adapter",
    "parse_secrets",
    "try_normalise_address",
]
