"""Fixtures: the real tokenmint (`$TOKENMINT_BIN demo --keep-running`), an upstream that echoes
the headers it receives, and gateways configured against them (in-process, FastAPI TestClient,
which runs the app's lifespan and so its revocation-feed poller)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings

DEFAULT_BIN = "/tmp/tokenmint-debug"
STARTUP_TIMEOUT = float(os.environ.get("TOKENMINT_STARTUP_TIMEOUT", "180"))
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
APPWRITE_JWT_TYPE = "urn:tokenmint:params:token-type:appwrite-jwt"
MAX_EXCHANGES = 40
"""tokenmint allows 60 exchanges per user and window; the whole run stays well under."""


@dataclass
class Tokenmint:
    url: str
    appwrite_jwt: str
    admin_key: str
    exchanges: int = 0
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def exchange(self) -> dict[str, Any]:
        """A new session: the Appwrite JWT exchanged for tokenmint's tokens."""
        self.exchanges += 1
        assert self.exchanges <= MAX_EXCHANGES, "the tests exchange too often for tokenmint's rate limit"
        response = self.http.post(
            f"{self.url}/oauth/token",
            data={
                "grant_type": EXCHANGE_GRANT,
                "subject_token_type": APPWRITE_JWT_TYPE,
                "subject_token": self.appwrite_jwt,
            },
        )
        assert response.status_code == 200, response.text
        return response.json()

    def access_token(self) -> str:
        return self.exchange()["access_token"]

    def revoke_session(self, sid: str) -> None:
        response = self.http.delete(
            f"{self.url}/admin/v1/sessions/{sid}",
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )
        assert response.status_code in (200, 204), response.text


def _read_exports(proc: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    """Reads the demo's stdout until the three export lines are in (on a thread, so the
    deadline holds even when it prints nothing); keeps draining afterwards so it never blocks
    on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    exports: dict[str, str] = {}
    tail: list[str] = []
    while not {"TOKENMINT", "APPWRITE_JWT", "ADMIN_KEY"} <= exports.keys():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError("tokenmint demo printed no export lines in time:\n" + "".join(tail[-30:]))
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError(f"tokenmint demo exited ({proc.wait()}):\n" + "".join(tail[-30:]))
        tail.append(line)
        match = re.match(r"^export (TOKENMINT|APPWRITE_JWT|ADMIN_KEY)=(\S+)\s*$", line)
        if match:
            exports[match.group(1)] = match.group(2)
    return exports


@pytest.fixture(scope="session")
def tokenmint() -> Iterator[Tokenmint]:
    binary = os.environ.get("TOKENMINT_BIN", DEFAULT_BIN)
    required = os.environ.get("TOKENMINT_GATEWAY") == "required"
    path = shutil.which(binary) or (binary if os.access(binary, os.X_OK) else None)
    if path is None:
        message = (
            f"tokenmint binary not found at {binary!r} (set TOKENMINT_BIN, e.g. target/debug/tokenmint; "
            "TOKENMINT_GATEWAY=required turns this skip into a failure)"
        )
        if required:
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.Popen(
        [path, "demo", "--keep-running"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        exports = _read_exports(proc, time.monotonic() + STARTUP_TIMEOUT)
        yield Tokenmint(exports["TOKENMINT"], exports["APPWRITE_JWT"], exports["ADMIN_KEY"])
    finally:
        proc.send_signal(signal.SIGINT)  # the demo removes its temporary directory on ctrl-c
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with its method, path and headers as JSON."""

    def _echo(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        payload = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Upstream", "echo")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    with serve(_EchoHandler) as url:
        yield url


@pytest.fixture
def gateway_for(tokenmint: Tokenmint, upstream: str):
    """`gateway_for(**settings)`: a running gateway (TestClient) against the real tokenmint:
    audience `api`, the admin key as feed key, a 0.5 s feed interval, unless overridden."""
    stack = contextlib.ExitStack()

    def make(clock=None, **overrides: Any) -> TestClient:
        values: dict[str, Any] = dict(
            issuer=tokenmint.url,
            audience="api",
            upstream_url=upstream,
            feed_key=tokenmint.admin_key,
            feed_interval=0.5,
        )
        values.update(overrides)
        kwargs = {"clock": clock} if clock else {}
        app = create_app(Settings(**values), **kwargs)
        return stack.enter_context(TestClient(app))

    with stack:
        yield make
