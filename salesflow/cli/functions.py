"""`salesflow functions serve`: the edge-style functions of `functions/` as a standalone HTTP server against a
real Supabase project (where the project's own Edge Runtime does not run Python).

The functions are loaded and guarded by the local stack's runner (salesflow/devstack/functions.py), so they
behave exactly as under `salesflow dev`: `/functions/v1/<name>`, `verify_jwt` per function from
supabase/config.toml, `request.state.env` with the project's URL and keys. What differs is the project:

- the URL and keys come from the environment (`SUPABASE_URL`, `SUPABASE_ANON_KEY`,
  `SUPABASE_SERVICE_ROLE_KEY`); the functions call that project with them;
- an incoming JWT is verified as the project's Auth signs it: HS256 with the project's JWT secret
  (`SUPABASE_JWT_SECRET`, only when set explicitly: the built-in demo secret is public), or RS256 / ES256
  with a key of the project's JWKS (`<SUPABASE_URL>/auth/v1/.well-known/jwks.json`, fetched by PyJWT's
  PyJWKClient and cached), the signing keys of projects on asymmetric JWT keys. Any other algorithm, a bad
  signature, an expired token or one without `exp` is refused with 401 JSON before the function runs.

`GET /health` answers 200 with the function names (the container's HEALTHCHECK and load balancers use it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import typer
from starlette.requests import Request

from salesflow import logging as sflog
from salesflow.cli.output import fail
from salesflow.devstack.config import CONFIG_FILE, FUNCTIONS_DIR
from salesflow.devstack.errors import ApiError
from salesflow.devstack.keys import TokenError, verify
from salesflow.settings import Settings, SettingsError, settings

app = typer.Typer(help="Serve functions/ standalone against a real Supabase project.", no_args_is_help=True)
log = logging.getLogger("salesflow.functions")

ASYMMETRIC = ("RS256", "ES256")
ALL_METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]


def jwks_url_of(supabase_url: str) -> str:
    """Where Supabase Auth publishes a project's signing keys."""
    return f"{supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json"


class SupabaseProject:
    """A real project as a functions project (salesflow.devstack.functions.FunctionsProject)."""

    def __init__(self, url: str, anon_key: str, service_role_key: str, jwt_secret: str | None,
                 jwks_url: str | None) -> None:
        self.url = url.rstrip("/")
        self.anon_key = anon_key
        self.service_role_key = service_role_key
        self.jwt_secret = jwt_secret
        self.jwks_url = jwks_url
        # PyJWKClient caches the key set and refetches it once when a token names an unknown `kid` (a key
        # rotation); its fetch is blocking urllib, so it runs in a thread.
        self._jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, timeout=10) if jwks_url else None

    def check_apikey(self, request: Request) -> None:
        apikey = request.headers.get("apikey") or request.query_params.get("apikey")
        if apikey and apikey not in (self.anon_key, self.service_role_key):
            raise ApiError(401, "401", "Invalid API key",
                           hint="Double check your Supabase `anon` or `service_role` API key.")

    def bearer(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else ""

    def env(self) -> dict[str, str]:
        return {"SUPABASE_URL": self.url, "SUPABASE_ANON_KEY": self.anon_key,
                "SUPABASE_SERVICE_ROLE_KEY": self.service_role_key}

    async def verify_token(self, token: str) -> dict[str, Any]:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise TokenError("PGRST301", "JWT malformed", str(exc), kind="malformed") from None
        if alg == "HS256":
            if not self.jwt_secret:
                raise TokenError("PGRST301", "HS256 tokens are not accepted: SUPABASE_JWT_SECRET is not set",
                                 kind="algorithm")
            return verify(token, self.jwt_secret)
        if alg not in ASYMMETRIC:
            raise TokenError("PGRST301", "Wrong or unsupported encoding algorithm",
                             f"alg {alg!r}; allowed: HS256, {', '.join(ASYMMETRIC)}", kind="algorithm")
        if self._jwks is None:
            raise TokenError("PGRST301", f"{alg} tokens are not accepted: no JWKS URL", kind="algorithm")
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientError as exc:
            raise TokenError("PGRST301", "No signing key of the project matches this JWT", str(exc),
                             kind="signature") from None
        try:
            claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[alg],
                                                options={"verify_aud": False, "require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("PGRST303", "JWT expired", kind="expired") from None
        except jwt.MissingRequiredClaimError:
            raise TokenError("PGRST303", "The JWT 'exp' claim is required", kind="missing_exp") from None
        except jwt.InvalidSignatureError:
            raise TokenError("PGRST301", "JWT cryptographic operation failed", "signature mismatch",
                             kind="signature") from None
        except jwt.PyJWTError as exc:
            raise TokenError("PGRST301", "JWT invalid", str(exc), kind="malformed") from None
        if not isinstance(claims.get("role", "anon"), str) or claims["exp"] <= time.time():
            raise TokenError("PGRST301", "JWT invalid", "role must be a string and exp in the future")
        return claims


def project_from_settings(cfg: Settings, jwks_url: str | None, use_jwks: bool) -> SupabaseProject:
    """The project the environment names; exits 2 naming a missing variable."""
    for name in ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"):
        if not getattr(cfg, name):
            fail(f"{name}: required (the project the functions call and whose tokens they accept)")
    assert cfg.SUPABASE_URL and cfg.SUPABASE_ANON_KEY and cfg.SUPABASE_SERVICE_ROLE_KEY
    # The secret has a built-in default (the local stack's, which is public): only an explicit one counts.
    secret = cfg.SUPABASE_JWT_SECRET if "SUPABASE_JWT_SECRET" in cfg.model_fields_set else None
    jwks = (jwks_url or jwks_url_of(cfg.SUPABASE_URL)) if use_jwks else None
    if secret is None and jwks is None:
        fail("SUPABASE_JWT_SECRET: required with --no-jwks (no way to verify a caller's token otherwise)")
    return SupabaseProject(cfg.SUPABASE_URL, cfg.SUPABASE_ANON_KEY, cfg.SUPABASE_SERVICE_ROLE_KEY, secret, jwks)


def build_app(project: SupabaseProject, functions_dir: Path, config_file: Path) -> Any:
    """The ASGI app: /functions/v1/<name> through the shared runner, and /health."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from salesflow.devstack.config import load_config
    from salesflow.devstack.functions import FunctionsRunner

    runner = FunctionsRunner(project, functions_dir, load_config(config_file).verify_jwt)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "functions": runner.names()})

    return Starlette(routes=[
        Route("/health", health),
        Route("/functions/v1/{name}", runner.serve, methods=ALL_METHODS),
    ])


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 in a container)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    functions_dir: Path = typer.Option(FUNCTIONS_DIR, help="Folder of the functions (one folder each)."),
    config: Path = typer.Option(CONFIG_FILE, help="supabase/config.toml (each function's verify_jwt)."),
    jwks_url: str | None = typer.Option(
        None, help="JWKS of the project's signing keys (default <SUPABASE_URL>/auth/v1/.well-known/jwks.json)."
    ),
    use_jwks: bool = typer.Option(True, "--jwks/--no-jwks", help="Accept RS256/ES256 tokens signed by a JWKS key."),
    log_level: str | None = typer.Option(None, help="DEBUG, INFO, WARNING or ERROR (default SALESFLOW_LOG_LEVEL)."),
) -> None:
    """Serve functions/ at /functions/v1/<name> against the project in SUPABASE_URL (keys from the environment;
    callers' JWTs verified with SUPABASE_JWT_SECRET and/or the project's JWKS). SIGTERM stops gracefully."""
    if not 1 <= port <= 65535:
        fail(f"--port: must be between 1 and 65535 (got {port})")
    if not functions_dir.is_dir():
        fail(f"--functions-dir: {functions_dir} is not a folder")
    if jwks_url is not None and not jwks_url.startswith(("http://", "https://")):
        fail(f"--jwks-url: must start with http:// or https:// (got {jwks_url!r})")
    if log_level is not None and log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"--log-level: must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})")
    try:
        cfg = settings()
    except SettingsError as exc:
        fail(str(exc))
    sflog.configure(log_level or cfg.SALESFLOW_LOG_LEVEL, cfg.SALESFLOW_LOG_FORMAT)
    project = project_from_settings(cfg, jwks_url, use_jwks)
    try:
        asgi = build_app(project, functions_dir, config)
    except ValueError as exc:
        fail(f"--config: {exc}")
    import uvicorn

    log.info("functions serving", extra={"url": f"http://{host}:{port}/functions/v1/", "project": project.url,
                                         "hs256": project.jwt_secret is not None, "jwks": project.jwks_url})
    typer.echo(f"Functions on http://{host}:{port}/functions/v1/<name> for {project.url}", err=True)
    uvicorn.run(asgi, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=10)
