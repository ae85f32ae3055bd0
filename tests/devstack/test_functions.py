"""/functions/v1/<name>: the functions runner (verify_jwt from config.toml) and the create-lead function."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest

from salesflow.devstack import DevStack
from salesflow.devstack.config import ProjectConfig, load_config
from tests.conftest import ACME
from tests.devstack.conftest import RunningStack


def test_create_lead_writes_as_the_caller(running_stack: RunningStack) -> None:
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    response = httpx.post(f"{running_stack.url}/functions/v1/create-lead", headers=running_stack.headers(token),
                          json={"name": "From a function", "email": "fn@example.de", "source_channel": "web"})
    assert response.status_code == 201, response.text
    # a function's own content type, not PostgREST's vnd.pgrst.object+json (which clients treat as text)
    assert response.headers["content-type"] == "application/json"
    lead = response.json()
    assert lead["tenant_id"] == ACME and lead["name"] == "From a function"
    assert lead["owner_id"] == "a0000000-0000-4000-8000-000000000002"
    stored = running_stack.sql("select tenant_id::text, owner_id::text, email, source_channel from public.leads "
                               "where id = %s", (lead["id"],))
    assert stored == [(ACME, "a0000000-0000-4000-8000-000000000002", "fn@example.de", "web")]
    duplicate = httpx.post(f"{running_stack.url}/functions/v1/create-lead", headers=running_stack.headers(token),
                           json={"name": "Again", "email": "FN@example.de"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "email"
    assert running_stack.sql("select count(*) from public.leads where name = 'Again'") == [(0,)]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "a@b.de"}, "name"), ({"name": "X", "email": "not-an-email"}, "email"),
     ({"name": "X", "phone": "call me"}, "phone"), ({"name": "X", "source_channel": "pigeon"}, "source_channel"),
     ({"name": "X", "tenant_id": ACME}, "tenant_id"), ([1, 2], "body")],
)
def test_create_lead_names_the_bad_field(running_stack: RunningStack, body: object, field: str) -> None:
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    before = running_stack.sql("select count(*) from public.leads")
    response = httpx.post(f"{running_stack.url}/functions/v1/create-lead", headers=running_stack.headers(token),
                          json=body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert field in response.json()["message"]
    assert running_stack.sql("select count(*) from public.leads") == before


def test_verify_jwt_refuses_missing_and_forged_tokens(running_stack: RunningStack) -> None:
    before = running_stack.sql("select count(*) from public.leads")
    now = int(time.time())
    claims = {"sub": "a0000000-0000-4000-8000-000000000002", "role": "authenticated", "tenant_id": ACME,
              "aud": "authenticated", "iat": now, "exp": now + 600}
    secret = running_stack.stack.jwt_secret
    bad_tokens = {
        "not a jwt": "not.a.jwt",
        "other secret": jwt.encode(claims, "another-secret-that-is-at-least-32-characters", algorithm="HS256"),
        "alg none": jwt.encode({**claims, "role": "service_role"}, "", algorithm="none"),
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256"),
    }
    missing = httpx.post(f"{running_stack.url}/functions/v1/create-lead", json={"name": "No token"})
    assert missing.status_code == 401 and missing.json()
    for kind, token in bad_tokens.items():
        forged = httpx.post(f"{running_stack.url}/functions/v1/create-lead", json={"name": f"Forged {kind}"},
                            headers={"apikey": running_stack.stack.anon_key, "Authorization": f"Bearer {token}"})
        assert forged.status_code == 401, (kind, forged.text)
        assert forged.json(), kind  # a JSON error body, not an empty or HTML page
    # The anon key passes the gateway (as on Supabase) but the write runs as anon: refused by the database.
    anon = httpx.post(f"{running_stack.url}/functions/v1/create-lead", json={"name": "Anonymous"},
                      headers=running_stack.headers())
    assert anon.status_code == 401 and anon.json()["code"] == "42501"
    assert running_stack.sql("select count(*) from public.leads") == before
    unknown = httpx.post(f"{running_stack.url}/functions/v1/no-such-function",
                         headers=running_stack.headers())
    assert unknown.status_code == 404


async def test_verify_jwt_off_comes_from_config(database: str, tmp_path: Path) -> None:
    for name in ("webhook", "guarded"):  # the same code; only the config tells them apart
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "main.py").write_text(
            "from starlette.responses import JSONResponse\n"
            "async def handle(request):\n"
            "    return JSONResponse({'signed': request.headers.get('x-signature')})\n")
    config = ProjectConfig(**{**load_config().__dict__, "verify_jwt": {"webhook": False}})
    async with DevStack(database, config=config, functions_dir=tmp_path / "functions") as stack, \
            httpx.AsyncClient() as http:
        response = await http.post(f"{stack.url}/functions/v1/webhook", headers={"x-signature": "abc"})
        assert response.status_code == 200 and response.json() == {"signed": "abc"}
        guarded = await http.post(f"{stack.url}/functions/v1/guarded", headers={"x-signature": "abc"})
        assert guarded.status_code == 401  # not named in the config: verify_jwt defaults to on
