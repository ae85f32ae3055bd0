"""Channel adapters: one module per provider behind one port (`salesflow.channels.port`).

The send job (`salesflow.handlers.sending`) is the only caller: it builds an `OutboundMessage` from the
message row, asks `adapter.check()` for the provider's rules (window, length), records `sending`, then calls
`adapter.send()`. After a crash, `adapter.look_up()` reconciles a message found `sending` where the provider
allows it; otherwise the message becomes `unknown` for a person to decide (docs/channels.md).
"""

from salesflow.channels.port import (
    ChannelAdapter,
    LookupResult,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
)

__all__ = [
    "ChannelAdapter",
    "LookupResult",
    "OutboundMessage",
    "PermanentSendError",
    "RetryableSendError",
    "SendError",
    "SendReceipt",
]
