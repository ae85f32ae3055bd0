"""Provider signature checks, each a constant-time comparison against the connection's own secret.

Meta (WhatsApp Cloud, Instagram): `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body with the
app secret: computed over the exact bytes received, before any parsing (a re-serialised JSON differs).
Twilio: `X-Twilio-Signature`, checked by the `twilio` package's RequestValidator over the public URL Twilio
called and the form parameters. Inbound email (Postmark, SendGrid): HTTP basic auth with the connection's
inbound username and password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def meta_signature(app_secret: str, raw_body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `raw_body` (for tests and the demo)."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def meta_signature_valid(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether `header` is Meta's signature of exactly `raw_body` under `app_secret`."""
    if not app_secret or not header:
        return False
    return hmac.compare_digest(meta_signature(app_secret, raw_body).encode(), header.strip().encode())


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The `X-Twilio-Signature` Twilio sends for a form POST to `url` (for tests and the demo)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def twilio_signature_valid(auth_token: str, url: str, params: Mapping[str, str], header: str | None) -> bool:
    """Whether `header` is Twilio's signature of a POST to `url` with `params` (RequestValidator compares in
    constant time and tries the URL with and without the default port)."""
    if not auth_token or not header:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), header))


def basic_auth_header(username: str, password: str) -> str:
    """An `Authorization: Basic ...` value (for tests and the demo)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def basic_auth_valid(header: str | None, username: str | None, password: str | None) -> bool:
    """Whether `header` carries exactly this username and password (both compared in constant time)."""
    if not header or not username or not password:
        return False
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    given_user, sep, given_password = given.partition(":")
    user_ok = hmac.compare_digest(given_user.encode(), username.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return bool(sep) and user_ok and password_ok
