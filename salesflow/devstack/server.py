"""The local Supabase-compatible stack: one HTTP server on one port over a prepared Postgres.

Serves `/rest/v1` (PostgREST contract), `/realtime/v1/websocket` (Realtime), `/auth/v1` (Auth) and
`/functions/v1/<name>`. It is the stand-in for `supabase start` where Docker is absent; with Docker,
`supabase start` on the same `supabase/` folder runs the real services.

Use it in-process (`async with DevStack(url) as stack:`), in a background thread for synchronous code
(`stack.start_in_thread()` … `stack.stop_in_thread()`), or from the CLI (`salesflow dev`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from salesflow.devstack import rest
from salesflow.devstack.auth import AuthService
from salesflow.devstack.config import FUNCTIONS_DIR, ProjectConfig, load_config
from salesflow.devstack.context import StackContext
from salesflow.devstack.functions import FunctionsRunner
from salesflow.devstack.keys import ApiKeys, api_keys
from salesflow.devstack.realtime import RealtimeHub
from salesflow.settings import PROJECT_ROOT, settings

log = logging.getLogger("salesflow.devstack")
ALL_METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
DASHBOARD_DIR = PROJECT_ROOT / "dashboard"


class _DenialIsNoError(logging.Filter):
    """A refused websocket upgrade is answered with an HTTP response (ASGI's denial response, e.g. the
    gateway's 401 for a foreign apikey); uvicorn's sansio protocol logs that as an error. It is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


logging.getLogger("uvicorn.error").addFilter(_DenialIsNoError())


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: whoever runs the stack (the CLI, `salesflow run`
    with its engine, a test) owns the signals and stops the stack."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DevStack:
    """One running local stack. `url`, `anon_key` and `service_role_key` are what clients need."""

    def __init__(
        self,
        database_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        jwt_secret: str | None = None,
        config: ProjectConfig | None = None,
        functions_dir: Path = FUNCTIONS_DIR,
        pool_size: int = 8,
    ) -> None:
        self.database_url = database_url
        self.host = host
        self.requested_port = port
        self.jwt_secret = jwt_secret or settings().SUPABASE_JWT_SECRET
        self.config = config or load_config()
        self.functions_dir = functions_dir
        self.pool_size = pool_size
        self.keys: ApiKeys = api_keys(self.jwt_secret)
        self.port = port
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self.hub: RealtimeHub | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def anon_key(self) -> str:
        return self.keys.anon

    @property
    def service_role_key(self) -> str:
        return self.keys.service_role

    def _bind(self) -> socket.socket:
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
        # and without it every response with a body waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port or self.port))
        sock.listen(256)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    def app(self) -> Starlette:
        """The ASGI application (its lifespan opens the pool and the change feed)."""
        ctx = StackContext(
            database_url=self.database_url, jwt_secret=self.jwt_secret, keys=self.keys, api_url=self.url,
            schemas=self.config.schemas, extra_search_path=self.config.extra_search_path,
            max_rows=self.config.max_rows,
        )
        hub = RealtimeHub(ctx)
        self.hub = hub
        auth = AuthService(ctx, self.config.auth)
        functions = FunctionsRunner(ctx, self.functions_dir, self.config.verify_jwt)

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            ctx.pool = AsyncConnectionPool(self.database_url, min_size=1, max_size=self.pool_size, open=False,
                                           kwargs={"application_name": "salesflow-dev", "autocommit": True})
            await ctx.pool.open(wait=True, timeout=15)
            await hub.install_capture()
            await ctx.schema_cache(refresh=True)
            hub.start()
            await asyncio.wait_for(hub.listening.wait(), 15)
            try:
                yield
            finally:
                await hub.stop()
                await ctx.pool.close()

        async def rest_endpoint(request: Request) -> Response:
            return await rest.handle(request, ctx)

        async def realtime_endpoint(websocket: WebSocket) -> None:
            await hub.serve(websocket)

        async def health(_: Request) -> Response:
            return JSONResponse({"status": "ok", "api_url": self.url, "functions": functions.names()})

        async def dashboard_config(_: Request) -> Response:
            # The dashboard's only configuration, written here for the local stack (an operator writes the
            # file for a real project): the API URL the browser reached and the anon key.
            config = json.dumps({"supabaseUrl": self.url, "anonKey": self.keys.anon})
            return Response(f"window.SALESFLOW_CONFIG = {config};\n", media_type="text/javascript",
                            headers={"Cache-Control": "no-store"})

        async def dashboard_redirect(_: Request) -> Response:
            return RedirectResponse("/dashboard/")

        routes = [
            Route("/", health),
            Route("/dashboard", dashboard_redirect),
            Route("/dashboard/config.js", dashboard_config),
            Mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR, html=True, check_dir=False), name="dashboard"),
            Route("/rest/v1/{path:path}", rest_endpoint, methods=ALL_METHODS),
            Route("/rest/v1", rest_endpoint, methods=ALL_METHODS),
            Route("/auth/v1/token", auth.token, methods=["POST"]),
            Route("/auth/v1/user", auth.user, methods=["GET"]),
            Route("/auth/v1/logout", auth.logout, methods=["POST"]),
            Route("/auth/v1/signup", auth.signup, methods=["POST"]),
            Route("/auth/v1/health", health),
            Route("/functions/v1/{name}", functions.serve, methods=ALL_METHODS),
            Route("/realtime/v1/api/broadcast", hub.broadcast_endpoint, methods=["POST"]),
            Route("/realtime/v1/api/broadcast/{topic}/events/{event}", hub.broadcast_event_endpoint,
                  methods=["POST"]),
            WebSocketRoute("/realtime/v1/websocket", realtime_endpoint),
        ]
        middleware = [Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                                 expose_headers=["Content-Range", "Preference-Applied"])]
        return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)

    async def start(self) -> None:
        """Bind, open the pool and the change feed, and serve in the background of the running loop."""
        self._socket = self._bind()
        config = uvicorn.Config(self.app(), log_level="warning", access_log=False, lifespan="on",
                                ws="websockets-sansio", ws_ping_interval=None, timeout_graceful_shutdown=2)
        self._server = _EmbeddedServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._serve_task.done():
                self._serve_task.result()
                raise RuntimeError("the local stack stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Close connections and stop serving (websockets are closed, clients see a disconnect)."""
        if self._server is None:
            return
        self._server.should_exit = True
        if self._serve_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._serve_task, 10)
        if self._socket is not None:
            self._socket.close()
        self._server = None

    async def serve_forever(self) -> None:
        """Serve until cancelled (the CLI cancels on SIGINT/SIGTERM)."""
        await self.start()
        try:
            assert self._serve_task is not None
            await self._serve_task
        finally:
            await self.stop()

    async def __aenter__(self) -> DevStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    def start_in_thread(self) -> DevStack:
        """Run the stack on its own event loop in a daemon thread (for synchronous callers and tests)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                assert self._serve_task is not None
                loop.run_until_complete(self._serve_task)
            except BaseException:
                pass
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="salesflow-dev", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop_in_thread(self) -> None:
        """Stop a stack started with start_in_thread and wait for its thread."""
        if self._thread_loop is None or self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._request_exit(), self._thread_loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        self._thread.join(15)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._thread_loop = None
        self._server = None

    async def _request_exit(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
