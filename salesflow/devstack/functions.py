"""`/functions/v1/<name>`: the edge-style Python functions in `functions/`, one folder each.

A function is `functions/<name>/main.py` defining `async def handle(request: Request) -> Response`
(starlette). As on Supabase, `verify_jwt` (from `[functions.<name>]` in supabase/config.toml, default on)
makes the gateway refuse a request without a valid JWT of the project; a function that takes webhooks
from providers turns it off and checks the provider's signature itself. No `apikey` is needed (providers
send none), but one that is sent must be a project key.

A function reads its environment from `request.state.env`, the variables Supabase gives an edge function:
`SUPABASE_URL`, `SUPABASE_ANON_KEY`, `SUPABASE_SERVICE_ROLE_KEY`; with `verify_jwt` on, the verified claims
are in `request.state.claims` (None otherwise).

The runner asks a `FunctionsProject` for the gateway's checks and the environment: the local stack's
(`LocalProject`, keys and secret of `salesflow dev`) or a real Supabase project's (`salesflow functions
serve`, salesflow/cli/functions.py: JWT secret or JWKS).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from salesflow.devstack.context import StackContext
from salesflow.devstack.errors import ApiError
from salesflow.devstack.keys import TokenError, verify

Handler = Callable[[Request], Awaitable[Response]]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class FunctionsProject(Protocol):
    """The project a runner serves functions of: its gateway checks and the environment functions get."""

    def check_apikey(self, request: Request) -> None:
        """Refuse (ApiError 401) an `apikey` that is sent but is not one of the project's keys."""

    def bearer(self, request: Request) -> str:
        """The token of `Authorization: Bearer …`, or ''."""

    async def verify_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid token of the project; raises TokenError."""

    def env(self) -> dict[str, str]:
        """SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY for the functions."""


class LocalProject:
    """The local stack as a functions project: its two keys and its JWT secret (HS256)."""

    def __init__(self, ctx: StackContext) -> None:
        self.ctx = ctx

    def check_apikey(self, request: Request) -> None:
        self.ctx.gateway(request, require_apikey=False)

    def bearer(self, request: Request) -> str:
        return self.ctx.bearer(request)

    async def verify_token(self, token: str) -> dict[str, Any]:
        return verify(token, self.ctx.jwt_secret)

    def env(self) -> dict[str, str]:
        return {"SUPABASE_URL": self.ctx.api_url, "SUPABASE_ANON_KEY": self.ctx.keys.anon,
                "SUPABASE_SERVICE_ROLE_KEY": self.ctx.keys.service_role}


class FunctionsRunner:
    """Load and serve the functions of a folder."""

    def __init__(self, ctx: StackContext | FunctionsProject, directory: Path, verify_jwt: dict[str, bool]) -> None:
        self.project: FunctionsProject = LocalProject(ctx) if isinstance(ctx, StackContext) else ctx
        self.directory = directory
        self.verify_jwt = verify_jwt
        self._loaded: dict[str, Handler] = {}

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if (p / "main.py").is_file() and _NAME.match(p.name))

    def handler(self, name: str) -> Handler | None:
        if name in self._loaded:
            return self._loaded[name]
        if not _NAME.match(name) or name not in self.names():
            return None
        path = self.directory / name / "main.py"
        spec = importlib.util.spec_from_file_location(f"salesflow_functions.{name.replace('-', '_')}", path)
        assert spec and spec.loader
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handle = getattr(module, "handle", None)
        if handle is None:
            raise RuntimeError(f"{path}: a function defines `async def handle(request) -> Response`")
        self._loaded[name] = handle
        return handle

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        handle = self.handler(name)
        if handle is None:
            return JSONResponse({"code": "NOT_FOUND", "message": f"Function not found: {name}"}, status_code=404)
        try:
            self.project.check_apikey(request)
        except ApiError as exc:
            return exc.response()
        request.state.env = self.project.env()
        request.state.claims = None
        if self.verify_jwt.get(name, True):
            token = self.project.bearer(request)
            try:
                if not token:
                    raise TokenError("UNAUTHORIZED_NO_AUTH_HEADER", "Missing authorization header")
                request.state.claims = await self.project.verify_token(token)
            except TokenError as exc:
                return JSONResponse({"code": "UNAUTHORIZED_INVALID_JWT_FORMAT" if token else exc.code,
                                     "message": exc.message}, status_code=401)
        try:
            return await handle(request)
        except ApiError as exc:
            return exc.response()
