"""A real HTTP receiver on 127.0.0.1 for webhook tests: it verifies each post's signature
and timestamp with the README's recipe and answers with the status the test sets."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """The README's verification recipe, verbatim."""
    pairs = [part.split("=", 1) for part in header.split(",")]
    t = next(v for k, v in pairs if k == "t")
    if abs(time.time() - int(t)) > tolerance:
        return False  # too old (or from the future): a replay
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in pairs if k == "v1")


class Receiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.status = 200
        self.accepted: list[dict] = []  # bodies that verified and were answered 2xx
        self.requests: list[dict] = []  # every post: headers, body, verified
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = verify(self.headers.get("Accrual-Signature", ""), body, receiver.secret)
                receiver.requests.append({"headers": dict(self.headers), "body": body, "verified": ok})
                status = receiver.status if ok else 400
                if ok and 200 <= status < 300:
                    receiver.accepted.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
