"""`/metrics` (Prometheus text format) and `/health` (JSON) for a running engine, on a tiny asyncio
HTTP server, so the listener needs no web framework and stays small."""

from __future__ import annotations

import asyncio
import json
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from salesflow.events.engine import Engine

log = logging.getLogger("salesflow.events.http")


async def serve_metrics(engine: Engine, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    """Start serving; `GET /health` answers 200 while the engine is ok or degraded, 503 when failing."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # skip headers
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
            if path == "/metrics":
                status, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest(engine.metrics.registry)
            elif path in ("/health", "/healthz"):
                health = engine.health()
                status = 503 if health["status"] == "failing" else 200
                ctype, body = "application/json", json.dumps(health).encode()
            else:
                status, ctype = 404, "application/json"
                body = json.dumps({"error": f"no route {path}; try /metrics or /health"}).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(respond, host, port)
    log.info("metrics and health served", extra={"url": f"http://{host}:{port}/metrics"})
    return server
