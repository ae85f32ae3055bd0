"""/auth/v1: password sign-in through the custom access token hook, refresh rotation, user, logout, signup."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from supabase_auth.errors import AuthApiError

from supabase import create_client
from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import PASSWORD, RunningStack


def claims_of(stack: RunningStack, token: str) -> dict[str, object]:
    return dict(jwt.decode(token, stack.stack.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}))


@pytest.mark.parametrize(
    ("email", "tenant", "tenant_role"),
    [("anna@acme.test", ACME, "owner"), ("ben@acme.test", ACME, "member"),
     ("max@consult.test", NORDLICHT, "admin"), ("nomad@nowhere.test", None, None)],
)
def test_tokens_carry_the_tenant_the_hook_picks(running_stack: RunningStack, email: str, tenant: str | None,
                                                tenant_role: str | None) -> None:
    session = running_stack.sign_in(email)
    claims = claims_of(running_stack, session["access_token"])
    assert claims.get("tenant_id") == tenant and claims.get("tenant_role") == tenant_role
    assert claims["role"] == "authenticated" and claims["email"] == email
    assert claims["sub"] == session["user"]["id"] and claims["aud"] == "authenticated"
    assert session["token_type"] == "bearer" and session["expires_in"] == 3600


def test_supabase_py_signs_in_refreshes_and_signs_out(running_stack: RunningStack) -> None:
    client = create_client(running_stack.url, running_stack.stack.anon_key)
    session = client.auth.sign_in_with_password({"email": "bea@nordlicht.test", "password": PASSWORD}).session
    assert session is not None
    user = client.auth.get_user(session.access_token)
    assert user is not None and user.user.email == "bea@nordlicht.test"
    refreshed = client.auth.refresh_session(session.refresh_token).session
    assert refreshed is not None and refreshed.refresh_token != session.refresh_token
    assert claims_of(running_stack, refreshed.access_token)["tenant_id"] == NORDLICHT
    # rotation: the token just rotated out, sent again (a tab that missed the answer), gets the active token
    # back instead of a second branch of the session
    reused = httpx.post(f"{running_stack.url}/auth/v1/token", params={"grant_type": "refresh_token"},
                        json={"refresh_token": session.refresh_token}, headers=running_stack.headers())
    assert reused.status_code == 200 and reused.json()["refresh_token"] == refreshed.refresh_token
    client.auth.sign_out()
    after_logout = httpx.post(f"{running_stack.url}/auth/v1/token", params={"grant_type": "refresh_token"},
                              json={"refresh_token": refreshed.refresh_token}, headers=running_stack.headers())
    assert after_logout.status_code == 400


def test_wrong_password_and_unknown_user_are_refused_alike(running_stack: RunningStack) -> None:
    client = create_client(running_stack.url, running_stack.stack.anon_key)
    for email, password in [("anna@acme.test", "wrong-password"), ("ghost@nowhere.test", PASSWORD)]:
        with pytest.raises(AuthApiError) as err:
            client.auth.sign_in_with_password({"email": email, "password": password})
        assert err.value.code == "invalid_credentials" and err.value.status == 400


def test_signup_follows_the_config(running_stack: RunningStack) -> None:
    """supabase/config.toml turns sign-up on (the dashboard's Team flow); with it off, /signup refuses."""
    import dataclasses

    from salesflow.devstack import DevStack
    from salesflow.devstack.config import load_config

    config = load_config()
    assert config.auth.enable_signup
    response = httpx.post(f"{running_stack.url}/auth/v1/signup", headers=running_stack.headers(),
                          json={"email": "new@acme.test", "password": "long-enough"})
    assert response.status_code == 200 and response.json()["user"]["email"] == "new@acme.test"
    assert "tenant_id" not in response.json()["user"]["app_metadata"]
    off = dataclasses.replace(config, auth=dataclasses.replace(config.auth, enable_signup=False))
    stack = DevStack(running_stack.database_url, port=0, config=off).start_in_thread()
    try:
        refused = httpx.post(f"{stack.url}/auth/v1/signup", headers={"apikey": stack.anon_key},
                             json={"email": "other@acme.test", "password": "long-enough"})
    finally:
        stack.stop_in_thread()
    assert refused.status_code == 422 and refused.json()["error_code"] == "signup_disabled"
    assert running_stack.sql("select count(*) from auth.users where email = 'other@acme.test'") == [(0,)]


def test_user_endpoint_needs_a_signed_in_user(running_stack: RunningStack) -> None:
    # GoTrue's answers: no bearer 401; a token without a subject (the anon key) or one it cannot verify 403
    no_bearer = httpx.get(f"{running_stack.url}/auth/v1/user", headers={"apikey": running_stack.stack.anon_key})
    assert no_bearer.status_code == 401 and no_bearer.json()["error_code"] == "no_authorization"
    anon = httpx.get(f"{running_stack.url}/auth/v1/user", headers=running_stack.headers())
    assert anon.status_code == 403 and anon.json() == {"code": 403, "error_code": "bad_jwt",
                                                       "msg": "invalid claim: missing sub claim"}
    now = int(time.time())
    claims = {"sub": "a0000000-0000-4000-8000-000000000002", "role": "authenticated", "aud": "authenticated",
              "email": "ben@acme.test", "iat": now, "exp": now + 600}
    for token in (jwt.encode(claims, "another-secret-that-is-at-least-32-characters", algorithm="HS256"),
                  jwt.encode({**claims, "exp": now - 60}, running_stack.stack.jwt_secret, algorithm="HS256"),
                  jwt.encode(claims, "", algorithm="none")):
        forged = httpx.get(f"{running_stack.url}/auth/v1/user", headers=running_stack.headers(token))
        assert forged.status_code == 403 and forged.json()["error_code"] == "bad_jwt", forged.text
        assert forged.json()["msg"].startswith("invalid JWT: unable to parse or verify signature, ")
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    me = httpx.get(f"{running_stack.url}/auth/v1/user", headers=running_stack.headers(token))
    assert me.status_code == 200 and me.json()["email"] == "ben@acme.test"
    assert me.json()["user_metadata"] == {"full_name": "Ben Acme"}
