"""Fixtures for the provider clients: recorded responses, a fake clock, real local HTTP
servers (pytest-httpserver, and a scripted one that can stall or reset a connection) and a
real Redis (skipped with a reason when it is not reachable)."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from apps.tokens.providers import shared_state

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REDIS_URL_FOR_TESTS = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/7")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


class FakeClock:
    """Unix time that only moves when something sleeps; records every sleep."""

    def __init__(self, start: float = 1_795_000_020.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """A fake clock, also the one limits reads (it calls ``time.time()`` itself, with no clock
    to inject), so a rate limiter's waits move the window they wait on."""
    import limits.storage.memory
    import limits.storage.redis

    fake = FakeClock()
    for module in (limits.storage.memory, limits.storage.redis):
        monkeypatch.setattr(module, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def provider_name() -> str:
    """A provider name of its own per test, so no state (in-process or Redis) is shared."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _reset_in_process_state():
    def reset():
        shared_state._local_circuits.clear()
        shared_state._local_windows().reset()
        shared_state._local_quota.clear()

    reset()
    yield
    reset()


@pytest.fixture
def server(httpserver_ipv4):
    """pytest-httpserver on 127.0.0.1 (cleared before each test)."""
    return httpserver_ipv4


@dataclass
class RedisTarget:
    url: str
    prefix: str
    client: Any


@pytest.fixture
def redis_target():
    """The test Redis (env REDIS_URL_FOR_TESTS, default db 7) and a key prefix of this test's
    own; only keys under that prefix are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL_FOR_TESTS, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL_FOR_TESTS} ({type(exc).__name__}); set REDIS_URL_FOR_TESTS")
    prefix = f"accrual-test-{uuid.uuid4().hex[:12]}"
    yield RedisTarget(url=REDIS_URL_FOR_TESTS, prefix=prefix, client=client)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


# --- A scripted server for what pytest-httpserver cannot do (stall, reset) --------------


@dataclass
class Action:
    kind: str = "respond"  # respond | stall | reset
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0


class ScriptedServer:
    """A threading HTTP server on 127.0.0.1 answering each request with the next scripted
    action (the last one repeats)."""

    def __init__(self) -> None:
        self.actions: deque[Action] = deque()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests.append((self.path, dict(self.headers)))
                    action = owner.actions.popleft() if len(owner.actions) > 1 else owner.actions[0]
                if action.kind == "reset":
                    # SO_LINGER 0: close() sends RST instead of FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if action.kind == "stall":
                    time.sleep(action.stall)
                try:
                    self.send_response(action.status)
                    self.send_header("Content-Type", action.content_type)
                    self.send_header("Content-Length", str(len(action.body)))
                    for name, value in action.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(action.body)
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "") -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def script(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted_server():
    server = ScriptedServer()
    yield server
    server.close()
