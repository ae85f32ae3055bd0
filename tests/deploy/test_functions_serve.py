"""`salesflow functions serve` against a project (the local stack plays the real Supabase project: the functions
call its PostgREST with the project's keys): a caller with a valid HS256 token or a token signed by a key of
the project's JWKS reaches the function; a forged token is refused with 401 JSON and nothing is stored."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from salesflow.devstack import DevStack
from salesflow.devstack.keys import sign
from tests.conftest import ANNA, _create_migrated_database, _drop_database
from tests.deploy.conftest import DEPLOY, REPO, SALESFLOW, clean_env, free_port, wait_http

PASSWORD = "salesflow-dev"

# A function that answers who the gateway let in: the claims the runner verified.
WHOAMI = '''
from starlette.responses import JSONResponse

async def handle(request):
    claims = request.state.claims
    return JSONResponse({"sub": claims.get("sub"), "role": claims.get("role"),
                         "project": request.state.env["SUPABASE_URL"]})
'''


@dataclass
class Jwks:
    url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    fetches: list[str]


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    """The project's signing keys (one RS256, one ES256) published as a JWKS by a local HTTP server."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = [
        {**jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "rsa-1", "alg": "RS256",
         "use": "sig"},
        {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec-1", "alg": "ES256",
         "use": "sig"},
    ]
    body = json.dumps({"keys": keys}).encode()
    fetches: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Jwks(f"http://127.0.0.1:{server.server_address[1]}/auth/v1/.well-known/jwks.json", rsa_key, ec_key,
                   fetches)
    finally:
        server.shutdown()


@dataclass
class Served:
    url: str
    stack: DevStack
    database_url: str
    proc: subprocess.Popen[bytes]

    def leads_named(self, name: str) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("select count(*) from public.leads where name = %s", (name,)).fetchone()
        return int(row[0]) if row else 0

    def call(self, function: str, token: str | None, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}/functions/v1/{function}", json=body, headers=headers, timeout=20)


@pytest.fixture(scope="module")
def served(jwks: Jwks, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    functions = tmp_path_factory.mktemp("functions")
    (functions / "create-lead").symlink_to(REPO / "functions" / "create-lead")
    (functions / "whoami").mkdir()
    (functions / "whoami" / "main.py").write_text(WHOAMI)
    database_url = _create_migrated_database()
    stack = DevStack(database_url, port=0).start_in_thread()
    port = free_port()
    env = clean_env(SUPABASE_URL=stack.url, SUPABASE_ANON_KEY=stack.anon_key,
                    SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key, SUPABASE_JWT_SECRET=stack.jwt_secret)
    log = (tmp_path_factory.mktemp("logs") / "functions.log").open("wb")
    proc = subprocess.Popen([str(SALESFLOW), "functions", "serve", "--port", str(port), "--functions-dir",
                             str(functions), "--jwks-url", jwks.url], env=env, cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield Served(f"http://127.0.0.1:{port}", stack, database_url, proc)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        stack.stop_in_thread()
        _drop_database(database_url)


def anna_session(served: Served) -> dict[str, Any]:
    response = httpx.post(f"{served.stack.url}/auth/v1/token", params={"grant_type": "password"},
                          json={"email": "anna@acme.test", "password": PASSWORD},
                          headers={"apikey": served.stack.anon_key})
    response.raise_for_status()
    return dict(response.json())


def user_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": ANNA, "role": "authenticated", "aud": "authenticated", "iat": now, "exp": now + 600, **extra}


def test_health_lists_the_functions(served: Served) -> None:
    health = httpx.get(f"{served.url}/health").json()
    assert health == {"status": "ok", "functions": ["create-lead", "whoami"]}
    probe = subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py")], capture_output=True, text=True,
                           env=clean_env(HEALTHCHECK_URL=f"{served.url}/health"), timeout=20)
    assert probe.returncode == 0, probe.stderr


def test_a_signed_in_user_creates_a_lead_with_the_projects_hs256_token(served: Served) -> None:
    session = anna_session(served)
    name = f"Functions {uuid.uuid4().hex[:6]}"
    response = served.call("create-lead", session["access_token"], {"name": name, "email": f"{name[-6:]}@x.test"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert served.leads_named(name) == 1
    # The function called the project as the user: RLS put the lead into Anna's tenant.
    with psycopg.connect(served.database_url) as conn:
        row = conn.execute("select tenant_id::text from public.leads where name = %s", (name,)).fetchone()
    assert row == ("11111111-1111-4111-8111-111111111111",)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_token_signed_by_a_jwks_key_is_accepted(served: Served, jwks: Jwks, alg: str) -> None:
    key, kid = (jwks.rsa_key, "rsa-1") if alg == "RS256" else (jwks.ec_key, "ec-1")
    token = jwt.encode(user_claims(), key, algorithm=alg, headers={"kid": kid})
    response = served.call("whoami", token)
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": ANNA, "role": "authenticated", "project": served.stack.url}
    assert jwks.fetches, "the key came from the JWKS server"


def _forgeries(jwks: Jwks) -> dict[str, str]:
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = user_claims()
    header, payload, _ = sign(claims, "x" * 40).split(".")
    return {
        "hs256 with another secret": sign(claims, "not-the-project-secret-but-32-chars-long!"),
        "rs256 by another key with the project's kid": jwt.encode(claims, other_rsa, algorithm="RS256",
                                                                    headers={"kid": "rsa-1"}),
        "rs256 with an unknown kid": jwt.encode(claims, other_rsa, algorithm="RS256", headers={"kid": "nope"}),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 10}, jwks.rsa_key, algorithm="RS256",
                              headers={"kid": "rsa-1"}),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, jwks.ec_key, algorithm="ES256",
                             headers={"kid": "ec-1"}),
        "signature stripped": f"{header}.{payload}.",
        "not a jwt": "garbage",
    }


def test_a_forged_token_is_refused_and_nothing_is_stored(served: Served, jwks: Jwks) -> None:
    for what, token in _forgeries(jwks).items():
        name = f"Forged {uuid.uuid4().hex[:6]}"
        response = served.call("create-lead", token, {"name": name})
        assert response.status_code == 401, (what, response.text)
        assert response.headers["content-type"].startswith("application/json"), what
        body = response.json()
        assert body["code"] and body["message"], (what, body)
        assert served.leads_named(name) == 0, what
    missing = served.call("create-lead", None, {"name": "No token"})
    assert missing.status_code == 401
    assert missing.json()["code"] == "UNAUTHORIZED_NO_AUTH_HEADER"
    assert served.leads_named("No token") == 0


def test_an_apikey_that_is_not_the_projects_is_refused(served: Served) -> None:
    session = anna_session(served)
    response = httpx.post(f"{served.url}/functions/v1/create-lead", json={"name": "Wrong key"},
                          headers={"Authorization": f"Bearer {session['access_token']}", "apikey": "sb_fake"})
    assert response.status_code == 401 and response.json()["message"] == "Invalid API key"
    assert served.leads_named("Wrong key") == 0


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SALESFLOW), "functions", "serve", "--port", str(free_port()), *args],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"])
def test_a_missing_project_setting_is_named(missing: str) -> None:
    env = {"SUPABASE_URL": "http://127.0.0.1:9", "SUPABASE_ANON_KEY": "a", "SUPABASE_SERVICE_ROLE_KEY": "s"}
    del env[missing]
    result = _serve(clean_env(**env))
    assert result.returncode == 2
    assert f"error: {missing}: required" in result.stderr


def test_without_jwks_the_secret_is_required() -> None:
    """The built-in secret is the local stack's public demo secret: a real project must name its own."""
    env = clean_env(SUPABASE_URL="http://127.0.0.1:9", SUPABASE_ANON_KEY="a", SUPABASE_SERVICE_ROLE_KEY="s")
    result = _serve(env, "--no-jwks")
    assert result.returncode == 2 and "SUPABASE_JWT_SECRET: required" in result.stderr
    bad = _serve(env, "--jwks-url", "ftp://x")
    assert bad.returncode == 2 and "--jwks-url: must start with http" in bad.stderr


def test_the_demo_secret_is_not_trusted_unless_set(
    jwks: Jwks, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """With only a JWKS configured, an HS256 token signed with the public demo secret is refused."""
    from salesflow.settings import Settings

    port = free_port()
    env = clean_env(SUPABASE_URL="http://127.0.0.1:9", SUPABASE_ANON_KEY="a", SUPABASE_SERVICE_ROLE_KEY="s")
    proc = spawn([str(SALESFLOW), "functions", "serve", "--port", str(port), "--jwks-url", jwks.url], env)
    wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    demo = sign(user_claims(), Settings().SUPABASE_JWT_SECRET)
    response = httpx.post(f"http://127.0.0.1:{port}/functions/v1/create-lead", json={"name": "Demo"},
                          headers={"Authorization": f"Bearer {demo}"})
    assert response.status_code == 401
    assert "SUPABASE_JWT_SECRET is not set" in response.json()["message"]
