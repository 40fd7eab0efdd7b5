"""A tiny real HTTP server that answers from a script, for the hook's retry rules.

The emulator serves realistic behaviour; this one serves exact sequences (a 500, then a 200;
a lost answer) and records when each request arrived, so waits can be measured.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # read the request, then close the connection without answering
    content: bytes | None = None  # sent as is instead of ``body`` as JSON (a compressed answer)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer: tuple[str, int] = ("", 0)  # the client's address: one per connection


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (connections kept between requests), no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """A threaded HTTP server on a free port of 127.0.0.1, serving ``handler`` until ``close()``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # serve_forever's poll interval bounds how long close() waits for the loop to notice
        # shutdown(): its default (0.5 s) was half a second of every hook test's teardown.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class ScriptedServer(LocalServer):
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.seen: list[Seen] = []
        server = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        dict(self.headers.items()),
                        body,
                        time.monotonic(),
                        self.client_address,
                    )
                )
                reply = server.replies.popleft() if server.replies else Reply(500, {"message": "unscripted"})
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                if reply.content is not None:
                    payload = reply.content
                self.send_response(reply.status)
                if not any(key.lower() == "content-type" for key in reply.headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        super().__init__(Handler)

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)
