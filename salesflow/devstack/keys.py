"""The project's JWTs: anon and service-role API keys, user access tokens, and their verification.

Supabase's legacy API keys are HS256 JWTs signed with the project's JWT secret (claims role, iss, iat,
exp); user access tokens are signed with the same secret. Verification refuses what PostgREST refuses: a
bad signature, any algorithm other than HS256 (so `alg: none` never passes), and an expired token; and,
stricter than PostgREST, a token without `exp` (it would never expire; Supabase Auth never issues one and
Realtime refuses it). Each refusal carries a `kind`, so every service answers it in its own shape
(PostgREST's PGRST30x, Auth's 403 `bad_jwt`, Realtime's join reasons).

`is_project_key` is the gateway's check of the `apikey`: it must be one of the project's two keys exactly,
not merely some token signed with the secret.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt

# Fixed times make the keys a pure function of the secret, so `salesflow dev status` can print the same
# keys as `salesflow dev` did (like `supabase status`). They expire in 2050.
API_KEY_ISSUED_AT = 1641769200
API_KEY_EXPIRES_AT = 2524608000


TokenProblem = Literal["malformed", "algorithm", "signature", "expired", "missing_exp", "invalid"]


class TokenError(Exception):
    """A token was refused; `code` and `message` are what PostgREST answers (HTTP 401), `kind` says why for
    the services that answer in other shapes, and `reason` is the JWT library's wording (Auth quotes it)."""

    def __init__(self, code: str, message: str, details: str | None = None, *,
                 kind: TokenProblem = "invalid", reason: str = "", expired_for: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.kind = kind
        self.reason = reason or message
        self.expired_for = expired_for


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


def is_project_key(apikey: str, keys: ApiKeys) -> bool:
    """Whether `apikey` is the project's anon or service_role key (compared in constant time)."""
    given = apikey.encode()
    return hmac.compare_digest(given, keys.anon.encode()) | hmac.compare_digest(given, keys.service_role.encode())


_verified: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


def verify(token: str, secret: str) -> dict[str, Any]:
    """The claims of a valid token; raises TokenError with PostgREST's code otherwise.

    A token whose signature was checked once is remembered (clients send the same few tokens with every
    request); its expiry is still checked on every use.
    """
    known = _verified.get((token, secret))
    if known is not None:
        exp = known["exp"]
        if exp <= time.time():
            raise _expired(exp)
        return known
    claims = _verify(token, secret)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(token, secret)] = claims
    return claims


def _expired(exp: float) -> TokenError:
    return TokenError("PGRST303", "JWT expired", kind="expired", reason="token has invalid claims: token is expired",
                      expired_for=max(0, int(time.time() - exp)))


def _verify(token: str, secret: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        parts = len(token.split("."))
        raise TokenError("PGRST301", f"Expected 3 parts in JWT; got {parts}", str(exc), kind="malformed",
                         reason=f"token is malformed: {exc}") from None
    if header.get("alg") != "HS256":
        raise TokenError("PGRST301", "Wrong or unsupported encoding algorithm", f"alg {header.get('alg')!r}",
                         kind="algorithm", reason="token is unverifiable: signing method is invalid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], options={"verify_aud": False, "verify_exp": False}, leeway=0
        )
    except jwt.InvalidSignatureError:
        raise TokenError("PGRST301", "JWT cryptographic operation failed", "signature mismatch", kind="signature",
                         reason="token signature is invalid: signature is invalid") from None
    except jwt.PyJWTError as exc:
        raise TokenError("PGRST301", "JWT invalid", str(exc), kind="malformed",
                         reason=f"token is malformed: {exc}") from None
    exp = claims.get("exp")
    if exp is None:
        # PostgREST would accept it; a token that never expires is refused everywhere here instead.
        raise TokenError("PGRST303", "The JWT 'exp' claim is required", "a token without exp never expires",
                         kind="missing_exp", reason="token has invalid claims: token is missing required claim: "
                         "exp claim is required")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenError("PGRST303", "The JWT 'exp' claim must be a number", kind="invalid",
                         reason="token has invalid claims: token contains an invalid number")
    if exp <= time.time():
        raise _expired(exp)
    if not isinstance(claims.get("role", "anon"), str):
        raise TokenError("PGRST301", "JWT invalid", "the role claim must be a string")
    return claims
