"""The project's JWTs: anon and service-role API keys, user access tokens, and their verification.

Supabase's legacy API keys are HS256 JWTs signed with the project's JWT secret (claims role, iss, iat,
exp); user access tokens are signed with the same secret. Verification refuses what PostgREST refuses: a
bad signature, any algorithm other than HS256 (so `alg: none` never passes), and an expired token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

# Fixed times make the keys a pure function of the secret, so `salesflow dev status` can print the same
# keys as `salesflow dev` did (like `supabase status`). They expire in 2050.
API_KEY_ISSUED_AT = 1641769200
API_KEY_EXPIRES_AT = 2524608000


class TokenError(Exception):
    """A token was refused; `code` and `message` are what PostgREST answers (HTTP 401)."""

    def __init__(self, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ApiKeys:
    """The anon and service-role keys of one JWT secret, as `supabase start` prints them."""

    anon: str
    service_role: str


def sign(claims: dict[str, Any], secret: str) -> str:
    """Sign claims as an HS256 JWT."""
    return jwt.encode(claims, secret, algorithm="HS256")


def api_key(role: str, secret: str, issuer: str = "supabase-demo") -> str:
    """A legacy API key (anon or service_role) signed with the JWT secret."""
    return sign({"iss": issuer, "role": role, "iat": API_KEY_ISSUED_AT, "exp": API_KEY_EXPIRES_AT}, secret)


def api_keys(secret: str) -> ApiKeys:
    """Both API keys for a JWT secret."""
    return ApiKeys(anon=api_key("anon", secret), service_role=api_key("service_role", secret))


_verified: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


def verify(token: str, secret: str) -> dict[str, Any]:
    """The claims of a valid token; raises TokenError with PostgREST's code otherwise.

    A token whose signature was checked once is remembered (clients send the same few tokens with every
    request); its expiry is still checked on every use.
    """
    known = _verified.get((token, secret))
    if known is not None:
        exp = known.get("exp")
        if isinstance(exp, int | float) and exp <= time.time():
            raise TokenError("PGRST303", "JWT expired")
        return known
    claims = _verify(token, secret)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(token, secret)] = claims
    return claims


def _verify(token: str, secret: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("PGRST301", "Expected 3 parts in JWT; got fewer", str(exc)) from None
    if header.get("alg") != "HS256":
        raise TokenError("PGRST301", "Wrong or unsupported encoding algorithm", f"alg {header.get('alg')!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], options={"verify_aud": False, "require": []}, leeway=0
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("PGRST303", "JWT expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("PGRST301", "JWT cryptographic operation failed", "signature mismatch") from None
    except jwt.PyJWTError as exc:
        raise TokenError("PGRST301", "JWT invalid", str(exc)) from None
    if not isinstance(claims.get("role", "anon"), str):
        raise TokenError("PGRST301", "JWT invalid", "the role claim must be a string")
    return claims
