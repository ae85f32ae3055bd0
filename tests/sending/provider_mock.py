"""A real little HTTP server on 127.0.0.1 that answers like Twilio's Messages API and WhatsApp Cloud's
/messages endpoint, and counts every send request per recipient.

Another process (a `salesflow listen` subprocess) reaches it through the connection's `api_base_url`. Per
recipient a test can script answers: `stall` (accept, then hold the answer for some seconds), `429` (refuse
with Retry-After), `drop` (accept, then close the connection without an answer). Twilio's list endpoint
(`GET Messages.json?To=&From=`) serves the messages it accepted, which is what the send job's look-up reads.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TWILIO_SID = "AC" + "0" * 32
PHONE_NUMBER_ID = "109876543210"


class ProviderMock:
    """State shared with the request handler threads (guarded by one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # send requests per recipient's digits (To / to, without +)
        self.accepted: dict[str, str] = {}  # recipient → provider id it got
        self.twilio_messages: list[dict[str, Any]] = []
        self.script: dict[str, list[str]] = defaultdict(list)  # recipient's digits → answers to give, in order
        self.in_flight = 0
        self.stall_seconds = 3.0
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer_for(self, recipient: str) -> str:
        recipient = recipient.lstrip("+")
        with self.lock:
            self.requests[recipient] += 1
            queue = self.script.get(recipient)
            return queue.pop(0) if queue else "ok"

    def counts(self) -> dict[str, int]:
        with self.lock:
            return dict(self.requests)

    def waiting(self) -> int:
        with self.lock:
            return self.in_flight


def _handler(mock: ProviderMock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            if parsed.path.endswith("/Messages.json"):
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                with mock.lock:
                    found = [m for m in mock.twilio_messages
                             if m["to"] == query.get("To") and m["from"] == query.get("From")]
                self._reply(200, {"messages": list(reversed(found))})
                return
            self._reply(404, {"message": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = urlparse(self.path).path
            # A sender killed between its headers and its body leaves a request without a recipient: a real
            # provider refuses it (nothing is sent to anyone), so it is not counted as a message to a lead.
            if path.endswith("/Messages.json"):
                form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
                if not form.get("To"):
                    self._reply(400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
                    return
                self._send(form["To"], "twilio", form)
            elif path.endswith("/messages"):
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {}
                if not payload.get("to"):
                    self._reply(400, {"error": {"message": "(#100) The parameter to is required.", "code": 100}})
                    return
                self._send(str(payload["to"]), "whatsapp", payload)
            else:
                self._reply(404, {"message": "not found"})

        def _send(self, recipient: str, shape: str, request: dict[str, Any]) -> None:
            answer = mock.answer_for(recipient)
            if answer == "429":
                if shape == "twilio":
                    self._reply(429, {"code": 20429, "message": "Too Many Requests", "status": 429},
                                {"Retry-After": "0"})
                else:
                    self._reply(429, {"error": {"message": "rate limit", "type": "OAuthException", "code": 130429}},
                                {"Retry-After": "0"})
                return
            # Accepted: recorded before the answer, as a real provider commits before it replies.
            provider_id = ("SM" if shape == "twilio" else "wamid.") + uuid.uuid4().hex
            with mock.lock:
                mock.accepted[recipient.lstrip("+")] = provider_id
                if shape == "twilio":
                    mock.twilio_messages.append({
                        "sid": provider_id, "to": recipient, "from": request.get("From"),
                        "body": request.get("Body"), "status": "queued",
                        "date_created": format_datetime(datetime.now(UTC), usegmt=True)})
            if answer == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            if answer == "stall":
                with mock.lock:
                    mock.in_flight += 1
                try:
                    time.sleep(mock.stall_seconds)
                finally:
                    with mock.lock:
                        mock.in_flight -= 1
            if shape == "twilio":
                self._reply(201, {"sid": provider_id, "status": "queued", "num_segments": "1", "to": recipient})
            else:
                self._reply(200, {"messaging_product": "whatsapp", "contacts": [{"wa_id": recipient.lstrip("+")}],
                                  "messages": [{"id": provider_id}]})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed listener resets its connections: expected here, not worth a traceback.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def provider_mock() -> Iterator[ProviderMock]:
    """The server, serving in a thread until the block ends."""
    mock = ProviderMock()
    server = _Server(("127.0.0.1", 0), _handler(mock))
    mock.server = server
    thread = threading.Thread(target=server.serve_forever, name="provider-mock", daemon=True)
    thread.start()
    try:
        yield mock
    finally:
        server.shutdown()
        server.server_close()
