"""Refresh-token rotation as Supabase Auth (GoTrue) does it, through supabase-py: a token rotated out is
handed the session's active token (never a second branch), an older one too within
`refresh_token_reuse_interval` (config.toml: 10 s), and beyond it the reuse revokes the whole session."""

from __future__ import annotations

import httpx
import pytest
from supabase_auth.errors import AuthApiError

from supabase import create_client
from tests.devstack.conftest import PASSWORD, RunningStack


def refresh(stack: RunningStack, token: str) -> httpx.Response:
    return httpx.post(f"{stack.url}/auth/v1/token", params={"grant_type": "refresh_token"},
                      json={"refresh_token": token}, headers=stack.headers())


def test_reuse_within_the_interval_returns_the_active_token_and_beyond_it_revokes_the_session(
        running_stack: RunningStack) -> None:
    client = create_client(running_stack.url, running_stack.stack.anon_key)
    first = client.auth.sign_in_with_password({"email": "bea@nordlicht.test", "password": PASSWORD}).session
    assert first is not None
    second = client.auth.refresh_session(first.refresh_token).session
    assert second is not None
    third = client.auth.refresh_session(second.refresh_token).session
    assert third is not None
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3

    # within the interval, even the oldest token gets the active one back: tabs refreshing together
    concurrent = refresh(running_stack, first.refresh_token)
    assert concurrent.status_code == 200 and concurrent.json()["refresh_token"] == third.refresh_token

    # the interval passes (the rotations are made older in the database, as a clock would)
    running_stack.sql("update auth.refresh_tokens set updated_at = updated_at - interval '11 seconds', "
                      "created_at = created_at - interval '11 seconds' where token = any(%s)",
                      ([first.refresh_token, second.refresh_token, third.refresh_token],))
    # the token just rotated out is still answered with the active one (the client missed the answer)
    missed = refresh(running_stack, second.refresh_token)
    assert missed.status_code == 200 and missed.json()["refresh_token"] == third.refresh_token

    # an older one now is reuse: refused as GoTrue refuses it, and the whole session is revoked
    with pytest.raises(AuthApiError) as reuse:
        client.auth.refresh_session(first.refresh_token)
    assert reuse.value.status == 400 and reuse.value.code == "refresh_token_already_used"
    assert reuse.value.message == "Invalid Refresh Token: Already Used"
    for token in (third.refresh_token, second.refresh_token):
        after = refresh(running_stack, token)
        assert after.status_code == 400 and after.json()["error_code"] == "refresh_token_not_found", after.text
    # other sessions of the same user are untouched
    other = client.auth.sign_in_with_password({"email": "bea@nordlicht.test", "password": PASSWORD}).session
    assert other is not None and refresh(running_stack, other.refresh_token).status_code == 200


def test_logout_scopes_end_the_sessions_they_name(running_stack: RunningStack) -> None:
    laptop, phone, tablet = (running_stack.sign_in("max@consult.test") for _ in range(3))
    others = httpx.post(f"{running_stack.url}/auth/v1/logout", params={"scope": "others"},
                        headers=running_stack.headers(laptop["access_token"]))
    assert others.status_code == 204
    assert refresh(running_stack, phone["refresh_token"]).status_code == 400
    assert refresh(running_stack, tablet["refresh_token"]).status_code == 400
    still = refresh(running_stack, laptop["refresh_token"])
    assert still.status_code == 200
    local = httpx.post(f"{running_stack.url}/auth/v1/logout", params={"scope": "local"},
                       headers=running_stack.headers(still.json()["access_token"]))
    assert local.status_code == 204
    after = refresh(running_stack, still.json()["refresh_token"])
    assert after.status_code == 400 and after.json()["error_code"] == "refresh_token_not_found"
    wrong = httpx.post(f"{running_stack.url}/auth/v1/logout", params={"scope": "everyone"},
                       headers=running_stack.headers(running_stack.sign_in("max@consult.test")["access_token"]))
    assert wrong.status_code == 400 and "scope" in wrong.json()["msg"]
