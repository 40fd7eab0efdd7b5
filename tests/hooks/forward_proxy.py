"""A tiny real HTTP forward proxy: what ``HTTP_PROXY`` points at in the proxy tests.

It takes absolute-form requests (``GET http://host:port/path HTTP/1.1``), records them, sends
them on to the origin server and relays the answer byte for byte (headers and body as the origin
sent them, compressed or not).
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from tests.hooks.scripted_server import LocalServer, QuietHandler

# Hop-by-hop headers a proxy does not pass on (RFC 9110, 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}


class ForwardProxy(LocalServer):
    def __init__(self) -> None:
        self.forwarded: list[str] = []  # the absolute URLs asked for, in order
        proxy = self

        class Handler(QuietHandler):
            def _forward(self) -> None:
                proxy.forwarded.append(self.path)
                target = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()  # raw bytes: http.client does not decode gzip
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in HOP_BY_HOP | {
                            "transfer-encoding",
                            "content-length",
                            "server",
                            "date",
                        }:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    upstream.close()

            do_GET = do_POST = _forward

        super().__init__(Handler)
