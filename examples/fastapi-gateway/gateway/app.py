"""The gateway: `/me` (the verified claims, for the demo), `/healthz`, and a catch-all route
that proxies authenticated requests to `UPSTREAM_URL` with the verified user as headers.

Run: `uvicorn --factory gateway.app:create_app` (configuration from the environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, AsyncIterator, Callable
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from .auth import AuthError, Verifier, require_user
from .config import Settings
from .feed import RevocationFeed

log = logging.getLogger("gateway")

IDENTITY_HEADERS = ("x-user-id", "x-user-email", "x-user-labels", "x-session-id", "x-acting-user")
"""What the gateway sets. Incoming copies of these, and of any other `X-User-*` header, are
dropped, so an upstream can trust them (as long as only the gateway can reach it)."""

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})

# Header values are ASCII: anything outside printable ASCII (and `%`) is percent-encoded as
# UTF-8, which leaves every ordinary id and e-mail address unchanged. Labels are
# comma-separated, so a comma inside a label is encoded too (Appwrite labels are alphanumeric).
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_SAFE_LABEL = _SAFE.replace(",", "")


def _header_value(value: str, safe: str = _SAFE) -> str:
    return quote(value, safe=safe)


def identity_headers(claims: dict[str, Any]) -> dict[str, str]:
    headers = {
        "X-User-Id": _header_value(claims["sub"]),
        "X-Session-Id": _header_value(claims["sid"]),
        "X-User-Labels": ",".join(_header_value(l, _SAFE_LABEL) for l in claims.get("labels") or []),
    }
    if isinstance(claims.get("email"), str):
        headers["X-User-Email"] = _header_value(claims["email"])
    if isinstance(claims.get("act"), dict):
        headers["X-Acting-User"] = _header_value(claims["act"]["sub"])
    return headers


def _forwardable(name: str, settings: Settings, connection_tokens: set[str]) -> bool:
    lower = name.lower()
    # Content-Length is kept: the body is streamed through unchanged (without it, httpx would
    # send it chunked, which some upstreams cannot read).
    if (lower in HOP_BY_HOP and lower != "content-length") or lower in connection_tokens:
        return False
    if lower.startswith("x-user-") or lower in IDENTITY_HEADERS:
        return False
    if lower == "authorization" and not settings.forward_access_token:
        return False
    return True


def _auth_error_response(err: AuthError) -> JSONResponse:
    challenge = "Bearer" if err.error is None else f'Bearer error="{err.error}"'
    if err.error is not None:
        # quoted-string: keep printable ASCII without quote and backslash.
        text = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in err.description)
        challenge += f', error_description="{text}"'
    headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
    if err.status == 503:
        headers = {"Retry-After": "5", "Cache-Control": "no-store"}
    body = {"error": err.error or "invalid_token", "error_description": err.description}
    return JSONResponse(body, status_code=err.status, headers=headers)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Builds the gateway. `clock` and `transport` are for tests (a verification clock moved
    forward; a mock feed)."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        feed_client = httpx.AsyncClient(timeout=settings.http_timeout, transport=transport)
        upstream = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
        app.state.upstream = upstream
        task = None
        if feed is not None:
            feed.client = feed_client
            # Start synced when we can; the policy decides what a failure here means.
            await feed.poll_logged()
            task = asyncio.create_task(feed.run(), name="revocation-feed")
        await asyncio.to_thread(verifier.warm_up)
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await feed_client.aclose()
            await upstream.aclose()

    feed = None
    if settings.feed_interval > 0:
        feed = RevocationFeed(
            url=f"{settings.issuer.rstrip('/')}/v1/revocations",
            key=settings.feed_key,
            interval=settings.feed_interval,
            leeway=settings.leeway,
            client=None,  # type: ignore[arg-type]  # set in lifespan
            clock=clock,
        )
    else:
        log.warning("FEED_INTERVAL_SECONDS=0: revoked sessions stay valid until their exp")
    verifier = Verifier(
        settings.issuer,
        settings.audience,
        jwks_url=settings.jwks_url,
        discovery_url=settings.discovery_url,
        leeway=settings.leeway,
        http_timeout=settings.http_timeout,
        feed=feed,
        fail_closed=settings.feed_fail_closed,
        max_staleness=settings.feed_max_staleness,
        clock=clock,
    )

    # No docs routes: every path other than /me and /healthz belongs to the upstream.
    app = FastAPI(title="tokenmint gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.verifier = verifier
    app.state.feed = feed

    @app.exception_handler(AuthError)
    async def on_auth_error(request: Request, err: AuthError) -> JSONResponse:
        return _auth_error_response(err)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        if feed is None:
            return {"status": "ok", "feed": "off"}
        age = feed.staleness()
        return {
            "status": "ok",
            "feed": {
                "synced_seconds_ago": None if age is None else round(age, 3),
                "failures": feed.failures,
                "last_error": feed.last_error,
                "policy": "closed" if settings.feed_fail_closed else "open",
            },
        }

    @app.get("/me")
    def me(claims: dict[str, Any] = Depends(require_user)) -> dict[str, Any]:
        return claims

    if settings.upstream_url:
        base = settings.upstream_url.rstrip("/")

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
        async def proxy(path: str, request: Request, claims: dict[str, Any] = Depends(require_user)) -> Response:
            connection_tokens = {
                t.strip().lower() for t in request.headers.get("connection", "").split(",") if t.strip()
            }
            headers = [
                (name, value)
                for name, value in request.headers.items()
                if _forwardable(name, settings, connection_tokens)
            ]
            headers += list(identity_headers(claims).items())
            client: httpx.AsyncClient = request.app.state.upstream
            # The raw path, so percent-encoding (%2F and the like) reaches the upstream as sent.
            raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
            query = request.scope.get("query_string", b"").decode("latin-1")
            upstream_request = client.build_request(
                request.method,
                httpx.URL(base + raw_path + (f"?{query}" if query else "")),
                headers=headers,
                content=request.stream(),
            )
            try:
                upstream_response = await client.send(upstream_request, stream=True)
            except httpx.HTTPError as err:
                log.warning("upstream %s failed: %r", base, err)
                return JSONResponse({"error": "bad_gateway", "error_description": "upstream unreachable"}, status_code=502)
            response = StreamingResponse(
                upstream_response.aiter_raw(),
                status_code=upstream_response.status_code,
                background=BackgroundTask(upstream_response.aclose),
            )
            # Raw pairs, so repeated headers (Set-Cookie) survive; the body is passed through
            # undecoded, so Content-Length and Content-Encoding stay true.
            response.raw_headers = [
                (name, value)
                for name, value in upstream_response.headers.raw
                if name.lower().decode("latin-1") not in HOP_BY_HOP or name.lower() == b"content-length"
            ]
            return response

    return app
