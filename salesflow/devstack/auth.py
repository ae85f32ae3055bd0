"""`/auth/v1`: the Supabase Auth (GoTrue) contract for password sign-in, refresh, user, logout, signup.

Passwords are bcrypt hashes in `auth.users.encrypted_password` (what Supabase Auth stores). Access tokens
carry GoTrue's claims and are passed through the project's custom access token hook, called as
`supabase_auth_admin` exactly as Supabase Auth calls it, so `tenant_id` is the claim production issues.

Refresh tokens live in `auth.refresh_tokens` (one `session_id` per sign-in, each token's `parent` the one it
replaced) and rotate on use the way Supabase Auth (GoTrue) rotates them:
- a token that is still active is swapped for a new one;
- the token just rotated out (the parent of the active one, e.g. re-sent by a second tab that missed the
  rotation) returns the session's active token instead of branching the session;
- an older rotated-out token re-sent within `refresh_token_reuse_interval` (config.toml) of its rotation
  also returns the active token (a burst of concurrent refreshes);
- beyond that it is reuse: the whole session is revoked (every token of it) and the answer is 400
  `refresh_token_already_used` "Invalid Refresh Token: Already Used".
Logout deletes the session's tokens, as GoTrue deletes the session.

A bearer token Auth cannot verify is answered as GoTrue answers it: 403 `bad_jwt`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import psycopg
from psycopg import sql
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from salesflow.devstack.context import StackContext
from salesflow.devstack.errors import ApiError
from salesflow.devstack.keys import TokenError, sign, verify

API_VERSION = "2024-01-01"


@dataclass(frozen=True)
class AuthConfig:
    """The `[auth]` settings of supabase/config.toml that the local stack honours."""

    jwt_expiry: int = 3600
    enable_signup: bool = False
    hook_function: tuple[str, str] | None = ("public", "custom_access_token_hook")
    refresh_token_rotation: bool = True
    refresh_token_reuse_interval: int = 10


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return JSONResponse({"code": self.status, "error_code": self.code, "msg": self.message},
                            status_code=self.status, headers={"X-Supabase-Api-Version": API_VERSION})


USER_SQL = """
select id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data,
       is_anonymous, last_sign_in_at, banned_until, created_at, updated_at, deleted_at
from auth.users
"""


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    """A user as GoTrue returns it."""

    def ts(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    return {
        "id": str(row["id"]), "aud": row["aud"] or "authenticated", "role": row["role"] or "authenticated",
        "email": row["email"], "email_confirmed_at": ts(row["email_confirmed_at"]),
        "confirmed_at": ts(row["email_confirmed_at"]), "phone": "", "last_sign_in_at": ts(row["last_sign_in_at"]),
        "app_metadata": row["raw_app_meta_data"] or {}, "user_metadata": row["raw_user_meta_data"] or {},
        "identities": [], "created_at": ts(row["created_at"]), "updated_at": ts(row["updated_at"]),
        "is_anonymous": bool(row["is_anonymous"]),
    }


class AuthService:
    """The Auth endpoints of one local stack."""

    def __init__(self, ctx: StackContext, config: AuthConfig) -> None:
        self.ctx = ctx
        self.config = config

    async def _user(self, conn: psycopg.AsyncConnection[Any], where: str, value: Any) -> dict[str, Any] | None:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        await cur.execute(USER_SQL + f" where {where} = %s and deleted_at is null", (value,))
        return await cur.fetchone()

    async def access_token(self, conn: psycopg.AsyncConnection[Any], user: dict[str, Any], session_id: str,
                           method: str = "password", *, parent: str | None = None,
                           refresh_token: str | None = None) -> dict[str, Any]:
        """Sign a session for `user`, its claims passed through the custom access token hook. A new refresh
        token (child of `parent`) is stored unless `refresh_token`, the session's active one, is handed back."""
        async with conn.transaction():
            claims = await self._claims(conn, user, session_id, method)
            if refresh_token is None:
                refresh_token = secrets.token_urlsafe(24)
                await conn.execute(
                    "insert into auth.refresh_tokens (token, user_id, session_id, parent) values (%s, %s, %s, %s)",
                    (refresh_token, user["id"], session_id, parent))
            await conn.execute("update auth.users set last_sign_in_at = now() where id = %s", (user["id"],))
        return {
            "access_token": sign(claims, self.ctx.jwt_secret), "token_type": "bearer",
            "expires_in": self.config.jwt_expiry, "expires_at": claims["exp"],
            "refresh_token": refresh_token, "user": user_json(user),
        }

    async def _claims(self, conn: psycopg.AsyncConnection[Any], user: dict[str, Any], session_id: str,
                      method: str) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"{self.ctx.api_url}/auth/v1", "sub": str(user["id"]), "aud": user["aud"] or "authenticated",
            "exp": now + self.config.jwt_expiry, "iat": now, "email": user["email"] or "", "phone": "",
            "app_metadata": user["raw_app_meta_data"] or {}, "user_metadata": user["raw_user_meta_data"] or {},
            "role": user["role"] or "authenticated", "aal": "aal1",
            "amr": [{"method": method, "timestamp": now}], "session_id": session_id,
            "is_anonymous": bool(user["is_anonymous"]),
        }
        if not self.config.hook_function:
            return claims
        event = {"user_id": str(user["id"]), "claims": claims, "authentication_method": method}
        # Supabase Auth connects as supabase_auth_admin to run the hook: its grants apply, not ours
        await conn.execute("set local role supabase_auth_admin")
        cur = await conn.execute(
            sql.SQL("select {}(%s::jsonb)").format(sql.Identifier(*self.config.hook_function)),
            (json.dumps(event),))
        result = (await cur.fetchone())[0]  # type: ignore[index]
        await conn.execute("reset role")
        if not isinstance(result, dict) or not isinstance(result.get("claims"), dict):
            raise AuthError(500, "unexpected_failure", "custom access token hook returned no claims object")
        hooked: dict[str, Any] = result["claims"]
        # GoTrue checks the hook's claims the same way: a token must expire and name its subject and role
        missing = [c for c in ("exp", "sub", "role") if c not in hooked]
        if missing:
            raise AuthError(500, "unexpected_failure",
                            f"custom access token hook: output claims lack {', '.join(missing)}")
        return hooked

    async def token(self, request: Request) -> Response:
        try:
            self.ctx.gateway(request)
            grant = request.query_params.get("grant_type")
            body = await _body(request)
            assert self.ctx.pool is not None
            async with self.ctx.pool.connection() as conn:
                if grant == "password":
                    return _ok(await self._password(conn, body))
                if grant == "refresh_token":
                    refreshed = await self._refresh(conn, body)
                    return refreshed if isinstance(refreshed, Response) else _ok(refreshed)
            raise AuthError(400, "validation_failed",
                            f"grant_type {grant!r} is not supported: use password or refresh_token")
        except AuthError as exc:
            return exc.response()
        except ApiError as exc:
            return exc.response()

    async def _password(self, conn: psycopg.AsyncConnection[Any], body: dict[str, Any]) -> dict[str, Any]:
        email = str(body.get("email") or "").strip().lower()
        password = str(body.get("password") or "")
        if not email or not password:
            raise AuthError(400, "validation_failed", "email and password are required")
        user = await self._user(conn, "lower(email)", email)
        hashed = (user or {}).get("encrypted_password") or ""
        ok = bool(hashed) and await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed.encode())
        if not user or not ok:
            raise AuthError(400, "invalid_credentials", "Invalid login credentials")
        if user["banned_until"] is not None:
            raise AuthError(400, "user_banned", "User is banned")
        return await self.access_token(conn, user, str(uuid.uuid4()))

    async def _refresh(self, conn: psycopg.AsyncConnection[Any], body: dict[str, Any]) -> dict[str, Any] | Response:
        token = str(body.get("refresh_token") or "")
        if not token:
            return JSONResponse({"error": "invalid_request", "error_description": "refresh_token required"},
                                status_code=400, headers={"X-Supabase-Api-Version": API_VERSION})
        async with conn.transaction():
            # the row lock serialises two tabs refreshing the same token at once
            cur = await conn.execute(
                "select user_id, session_id, revoked, now() - updated_at > make_interval(secs => %s) "
                "from auth.refresh_tokens where token = %s for update",
                (self.config.refresh_token_reuse_interval, token))
            row = await cur.fetchone()
            if row is None:
                raise AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
            user_id, session_id, revoked, beyond_reuse_interval = row
            user = await self._user(conn, "id", user_id)
            if user is None:
                raise AuthError(400, "user_not_found", "User from refresh token not found")
            if user["banned_until"] is not None:
                raise AuthError(400, "user_banned", "Invalid Refresh Token: User Banned")
            session = str(session_id or uuid.uuid4())
            if not revoked:
                await conn.execute("update auth.refresh_tokens set revoked = true, updated_at = now() where token = %s",
                                   (token,))
                return await self.access_token(conn, user, session, method="token_refresh", parent=token)
            cur = await conn.execute(
                "select token, parent from auth.refresh_tokens where session_id = %s and not revoked "
                "order by id desc limit 1 for update", (session_id,))
            active = await cur.fetchone()
            if active is not None and (active[1] == token or not beyond_reuse_interval):
                # the client missed the answer to its own refresh, or tabs refreshed together: hand back
                # the session's active token, never a second branch of the session
                return await self.access_token(conn, user, session, method="token_refresh", refresh_token=active[0])
            if self.config.refresh_token_rotation:
                await conn.execute("delete from auth.refresh_tokens where session_id = %s", (session_id,))
        # committed: the session stays revoked although the request fails
        raise AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")

    async def _bearer_user(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """The signed-in user of the bearer token, refused as GoTrue refuses (401 without a bearer, 403
        `bad_jwt` for a token it cannot verify or one without a subject)."""
        self.ctx.gateway(request)
        token = self.ctx.bearer(request)
        if not token:
            raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
        try:
            claims = verify(token, self.ctx.jwt_secret)
        except TokenError as exc:
            raise AuthError(403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc.reason}") from None
        sub = claims.get("sub")
        if not sub:
            raise AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
        try:
            uuid.UUID(str(sub))
        except ValueError:
            raise AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID") from None
        assert self.ctx.pool is not None
        async with self.ctx.pool.connection() as conn:
            user = await self._user(conn, "id", sub)
        if user is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        return user, claims

    async def user(self, request: Request) -> Response:
        try:
            user, _ = await self._bearer_user(request)
            return _ok(user_json(user))
        except (AuthError, ApiError) as exc:
            return exc.response()

    async def logout(self, request: Request) -> Response:
        try:
            user, claims = await self._bearer_user(request)
            scope = request.query_params.get("scope", "global")
            assert self.ctx.pool is not None
            async with self.ctx.pool.connection() as conn:
                # GoTrue deletes the sessions, and their refresh tokens with them
                if scope not in ("global", "local", "others"):
                    raise AuthError(400, "validation_failed", f"scope {scope!r}: use global, local or others")
                session = claims.get("session_id")
                if scope == "local" and session:
                    await conn.execute("delete from auth.refresh_tokens where session_id = %s", (session,))
                elif scope == "others" and session:
                    await conn.execute("delete from auth.refresh_tokens where user_id = %s "
                                       "and session_id is distinct from %s", (user["id"], session))
                else:
                    await conn.execute("delete from auth.refresh_tokens where user_id = %s", (user["id"],))
            return Response(status_code=204)
        except (AuthError, ApiError) as exc:
            return exc.response()

    async def signup(self, request: Request) -> Response:
        try:
            self.ctx.gateway(request)
            if not self.config.enable_signup:
                raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
            body = await _body(request)
            email = str(body.get("email") or "").strip().lower()
            password = str(body.get("password") or "")
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise AuthError(400, "validation_failed", "email: a valid email address is required")
            if len(password) < 6:
                raise AuthError(422, "weak_password", "password: should be at least 6 characters")
            hashed = await asyncio.to_thread(lambda: bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode())
            meta = body.get("data") if isinstance(body.get("data"), dict) else {}
            assert self.ctx.pool is not None
            async with self.ctx.pool.connection() as conn:
                try:
                    await conn.execute(
                        "insert into auth.users (email, encrypted_password, email_confirmed_at, raw_app_meta_data, "
                        "raw_user_meta_data) values (%s, %s, now(), %s, %s)",
                        (email, hashed, json.dumps({"provider": "email", "providers": ["email"]}), json.dumps(meta)))
                except psycopg.errors.UniqueViolation:
                    raise AuthError(422, "user_already_exists", "User already registered") from None
                user = await self._user(conn, "lower(email)", email)
                assert user is not None
                return _ok(await self.access_token(conn, user, str(uuid.uuid4())))
        except (AuthError, ApiError) as exc:
            return exc.response()


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise AuthError(400, "bad_json", "Could not parse request body as JSON") from None
    if not isinstance(body, dict):
        raise AuthError(400, "bad_json", "the request body must be a JSON object")
    return body


def _ok(data: dict[str, Any]) -> Response:
    return JSONResponse(data, headers={"X-Supabase-Api-Version": API_VERSION})
