"""Channel rules in one place: SMS segments as carriers bill them, and every channel's length limit."""

from __future__ import annotations

import pytest

from salesflow.channels import LENGTH_LIMITS, PermanentSendError, build_adapter, outbox_adapter
from salesflow.channels.sms_segments import count_segments
from tests.channels.adapter_helpers import NOW, outbound


@pytest.mark.parametrize(("text", "encoding", "segments", "units"), [
    ("x" * 160, "GSM-7", 1, 160),
    ("x" * 161, "GSM-7", 2, 161),
    ("x" * 306, "GSM-7", 2, 306),
    ("x" * 307, "GSM-7", 3, 307),
    ("Grüße aus Köln, 10 € Rabatt!", "GSM-7", 1, 29),  # ü, ö are GSM-7; € costs two septets
    ("€" * 80, "GSM-7", 1, 160),
    ("€" * 81, "GSM-7", 2, 162),
    ("x" * 152 + "€" + "x" * 10, "GSM-7", 2, 164),
    ("Hallo 👋", "UCS-2", 1, 8),  # one emoji turns the whole text into UCS-2
    ("ł" * 70, "UCS-2", 1, 70),
    ("ł" * 71, "UCS-2", 2, 71),
    ("ł" * 134, "UCS-2", 2, 134),
    ("ł" * 135, "UCS-2", 3, 135),
])
def test_sms_segments_are_counted_as_the_carrier_bills_them(text: str, encoding: str, segments: int,
                                                            units: int) -> None:
    counted = count_segments(text)
    assert (counted.encoding, counted.segments, counted.units) == (encoding, segments, units)


def test_an_extension_character_never_straddles_two_segments() -> None:
    # 306 septets would fill two segments of 153, but the two-septet € at 153/154 cannot split: three.
    assert count_segments("x" * 152 + "€" + "x" * 152).segments == 3
    assert count_segments("x" * 306).segments == 2


def test_an_emoji_surrogate_pair_stays_in_one_segment() -> None:
    assert count_segments("ł" * 66 + "👋").segments == 1  # 68 units fit one segment of 70
    # 134 units would fill two segments of 67, but the pair at 67/68 moves whole into the second: three.
    assert count_segments("ł" * 66 + "👋" + "ł" * 66).segments == 3
    assert count_segments("ł" * 134).segments == 2


@pytest.mark.parametrize(("channel", "limit"), [("whatsapp", 4096), ("instagram", 1000), ("sms", 1600)])
def test_each_channel_refuses_a_body_one_over_its_limit(channel: str, limit: int) -> None:
    assert LENGTH_LIMITS[channel] == limit
    adapter = outbox_adapter(channel)
    adapter.check(outbound(channel, body="x" * limit), NOW)
    with pytest.raises(PermanentSendError) as refused:
        adapter.check(outbound(channel, body="x" * (limit + 1)), NOW)
    assert refused.value.code == "too_long"
    assert f"{channel}: the body is {limit + 1} characters, over the channel's limit of {limit}" == refused.value.reason


def test_email_takes_long_bodies() -> None:
    adapter = build_adapter("outbox", "email", "sales@acme.example", {})
    adapter.check(outbound("email", body="Absatz. " * 10_000), NOW)


@pytest.mark.parametrize(("channel", "changes", "code"), [
    ("sms", {"body": "   "}, "empty"),
    ("email", {"content_type": "image", "media": {"url": "https://x.example/a.png"}}, "content_unsupported"),
    ("whatsapp", {"content_type": "image", "media": None}, "media_missing"),
    ("whatsapp", {"content_type": "template", "template_name": " ", "body": None}, "template_name_missing"),
])
def test_content_a_channel_cannot_carry_is_refused_before_sending(channel: str, changes: dict, code: str) -> None:
    with pytest.raises(PermanentSendError) as refused:
        outbox_adapter(channel).check(outbound(channel, **changes), NOW)
    assert refused.value.code == code


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    import httpx

    from salesflow.channels.errors import retry_after_seconds

    assert retry_after_seconds(httpx.Headers({"Retry-After": "120"})) == 120
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Wed, 02 Dec 2026 12:01:30 GMT"}), now=NOW) == 90
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None
