"""A back-channel logout receiver: what an application serves at its ``backchannel_logout_uri``
(OpenID Connect Back-Channel Logout 1.0, 2.5), as a real HTTP server on 127.0.0.1 in a thread.

It records each ``logout_token`` POSTed to it (form-encoded) and answers ``status`` (200 by
default; a test sets 500 to play a broken receiver). ``hold`` keeps each answer back until the
test releases it, so two senders can be made to overlap without sleeping.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class LogoutReceiver:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.content_types: list[str] = []
        self.status = 200
        self.hold: threading.Event | None = None
        self.arrived = threading.Semaphore(0)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.tokens.extend(parse_qs(body).get("logout_token", []))
                receiver.arrived.release()
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                self.send_response(receiver.status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LogoutReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
