"""Classifying what went wrong at a provider: retry later, or fail with the provider's reason.

Retryable: HTTP 429 (with its Retry-After), 5xx, timeouts and connection errors, and the provider codes that
mean "busy" (Meta's throughput and transient codes, Twilio 20429). Permanent: everything else a provider
refuses with a 4xx (invalid number, window closed, blocked or opted out at the provider, bad credentials).
Error codes are `<provider>_<its code>` (`meta_131047`, `meta_10_2018278`, `twilio_21211`, `smtp_550`) or
`http_<status>` where the provider gave no code of its own, so `messages.error_code` says who refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

import httpx

from salesflow.channels.port import PermanentSendError, RetryableSendError, SendError

T = TypeVar("T")

# Meta Graph API codes that mean "try again later" (Graph API and WhatsApp Cloud API error references):
# 1 unknown / possibly server, 2 service temporarily unavailable, 4 application request limit, 17 user request
# limit, 32 page request limit, 613 call rate limit, 80007 WhatsApp Business account rate limit,
# 130429 Cloud API throughput reached, 131000 something went wrong, 131016 service unavailable,
# 131048 spam rate limit, 131056 too many messages to one recipient (pair rate limit), 133004 server
# temporarily unavailable.
META_RETRYABLE: Final = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
# Meta codes a person should read as "the rule of the window" (also permanent).
META_WINDOW_CLOSED: Final = frozenset({(131047, None), (10, 2018278)})
# Twilio REST codes that mean "try again later": 20429 too many requests, 20500 internal error,
# 20503 service unavailable.
TWILIO_RETRYABLE: Final = frozenset({20429, 20500, 20503})


def retry_after_seconds(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it is not one (an HTML error page from a proxy)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _generic(provider: str, response: httpx.Response, code: str, reason: str, provider_code: str | None,
             retryable: bool) -> SendError:
    status = response.status_code
    if retryable or status == 429 or status >= 500:
        return RetryableSendError(code, reason, retry_after_seconds(response.headers), provider_code=provider_code,
                                  http_status=status)
    return PermanentSendError(code, reason, provider_code=provider_code, http_status=status)


def meta_error(response: httpx.Response, channel: str) -> SendError:
    """A Graph API error response: `{"error": {"message", "type", "code", "error_subcode", "error_data",
    "is_transient", "fbtrace_id"}}`."""
    error = json_object(response).get("error")
    if not isinstance(error, dict) or "code" not in error:
        text = response.text.strip()[:300] or response.reason_phrase
        return _generic("meta", response, f"http_{response.status_code}", f"{channel}: {text}", None, False)
    code = int(error.get("code") or 0)
    subcode = error.get("error_subcode")
    subcode = int(subcode) if isinstance(subcode, int | str) and str(subcode).isdigit() else None
    provider_code = f"{code}" if subcode is None else f"{code}/{subcode}"
    reason = str(error.get("message") or "no message")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    if details and details not in reason:
        reason = f"{reason} ({details})"
    user_message = error.get("error_user_msg")
    if user_message and user_message not in reason:
        reason = f"{reason}: {user_message}"
    name = f"meta_{code}" if subcode is None else f"meta_{code}_{subcode}"
    if (code, subcode) in META_WINDOW_CLOSED or (code, None) in META_WINDOW_CLOSED:
        reason = f"window closed: {reason}"
    retryable = code in META_RETRYABLE or error.get("is_transient") is True
    return _generic("meta", response, name, f"{channel}: {reason}", provider_code, retryable)


def twilio_error(response: httpx.Response) -> SendError:
    """A Twilio REST error response: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`."""
    data = json_object(response)
    code = data.get("code")
    if not isinstance(code, int):
        text = response.text.strip()[:300] or response.reason_phrase
        return _generic("twilio", response, f"http_{response.status_code}", f"sms: {text}", None, False)
    reason = str(data.get("message") or "no message")
    more = data.get("more_info")
    if more:
        reason = f"{reason} ({more})"
    return _generic("twilio", response, f"twilio_{code}", f"sms: {reason}", str(code), code in TWILIO_RETRYABLE)


async def calling(channel: str, request: Callable[[], Awaitable[T]]) -> T:
    """Run one HTTP call, turning timeouts and connection errors into `RetryableSendError`."""
    try:
        return await request()
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise RetryableSendError("timeout", f"{channel}: could not connect to the provider in time "
                                 f"({type(error).__name__})") from None
    except httpx.TimeoutException as error:
        # The request was (or may have been) written: the provider may have accepted it.
        raise RetryableSendError("timeout", f"{channel}: the provider did not answer in time ({type(error).__name__})",
                                 maybe_accepted=True) from None
    except httpx.ConnectError as error:
        raise RetryableSendError("connection_error",
                                 f"{channel}: cannot reach the provider ({error or type(error).__name__})") from None
    except httpx.TransportError as error:
        raise RetryableSendError("connection_error",
                                 f"{channel}: the connection failed mid-request ({error or type(error).__name__})",
                                 maybe_accepted=True) from None
