"""Local verification of tokenmint access tokens (RFC 9068 JWTs) with PyJWT, and the FastAPI
dependency `require_user`.

What is checked, in order (README.md, "What the gateway checks"):
- the `Authorization: Bearer` header is present, the token at most 16 KiB, three segments;
- the header and claims set are JSON objects that repeat no member name (parsers disagree on
  which copy wins), the header has no `crit` and `typ` is `at+jwt` or `application/at+jwt`
  (case-insensitive); `jku`, `x5u`, `jwk`, `x5c` are ignored: only published keys count;
- the key is the JWKS key named by `kid`, and the algorithm is **that JWK's** `alg`, which must
  be ES256, EdDSA or RS256 (never HS*, never none): a token claiming another alg fails;
- the signature; `iss` exactly the configured issuer; `aud` contains the configured audience;
- every claim tokenmint issues is present (`iss sub aud exp iat jti client_id sid auth_time`),
  with the right types;
- `exp` (and `iat` not in the future, `nbf` if present) against the gateway's clock with a
  leeway. These three are checked here rather than by PyJWT so the clock is injectable: the
  tests move it past a real token's `exp` instead of faking a token;
- the revocation feed: the session is not revoked and `iat` is not before the user's
  not-before; under a fail-closed policy, the feed is fresh enough.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Any, Callable

import httpx
import jwt
from fastapi import Request
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError

from .feed import RevocationFeed

log = logging.getLogger("gateway.auth")

ALLOWED_ALGORITHMS = frozenset({"ES256", "EdDSA", "RS256"})
MAX_TOKEN_LEN = 16 * 1024
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid", "auth_time"]
ACCEPTED_TYP = frozenset({"at+jwt", "application/at+jwt"})
KEY_REFETCH_COOLDOWN = 10.0
"""A token naming an unknown `kid` triggers at most one JWKS fetch per this many seconds."""
FETCH_RETRY_AFTER = 5.0
"""After a failed discovery or JWKS fetch, serve from what we have for this long."""


class AuthError(Exception):
    """A refusal: 401 `invalid_token` (or 503 when the gateway cannot check right now)."""

    def __init__(self, description: str, status: int = 401, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.error = error


def _unavailable(description: str) -> AuthError:
    return AuthError(description, status=503, error="temporarily_unavailable")


class _JWKClient(PyJWKClient):
    """PyJWKClient that keeps serving the last good JWKS while refetches fail (a tokenmint
    outage must not turn into refusing every token once the cache lifetime ends), and does not
    retry a failed fetch on every request."""

    def __init__(self, uri: str, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self._last_good: Any = None
        self._failed_at: float | None = None

    def get_jwk_set(self, refresh: bool = False):  # type: ignore[override]
        if self._last_good is not None and self._failed_at is not None:
            if time.monotonic() - self._failed_at < FETCH_RETRY_AFTER:
                return self._last_good
        try:
            jwk_set = super().get_jwk_set(refresh)
        except PyJWKClientConnectionError as err:
            self._failed_at = time.monotonic()
            if self._last_good is None:
                raise
            log.warning("JWKS refetch failed, serving the cached keys: %s", err)
            return self._last_good
        self._last_good, self._failed_at = jwk_set, None
        return jwk_set


def _b64decode(segment: str) -> bytes:
    if not segment or any(c not in _B64URL for c in segment):
        raise AuthError("token is not a JWT")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise AuthError(f"token repeats the member {name!r}")
        result[name] = value
    return result


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError):
        raise AuthError(f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise AuthError(f"token {what} is not a JSON object")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Verifier:
    """Verifies tokenmint access tokens. Thread-safe; `verify` is synchronous (PyJWKClient uses
    blocking HTTP), so `require_user` is a plain `def` dependency FastAPI runs in its
    threadpool."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        discovery_url: str | None = None,
        leeway: float = 30.0,
        http_timeout: float = 5.0,
        feed: RevocationFeed | None = None,
        fail_closed: bool = False,
        max_staleness: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.discovery_url = discovery_url or f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        self.leeway = leeway
        self.http_timeout = http_timeout
        self.feed = feed
        self.fail_closed = fail_closed
        self.max_staleness = max_staleness
        self.clock = clock
        self._jwks_url = jwks_url
        self._jwks: _JWKClient | None = None
        self._lock = threading.Lock()
        self._discovery_failed_at: float | None = None

    # -- keys ---------------------------------------------------------------------------------

    def _client(self) -> _JWKClient:
        """The JWKS client, found through discovery on first use (and retried after a failure,
        at most every FETCH_RETRY_AFTER seconds)."""
        if self._jwks is not None:
            return self._jwks
        with self._lock:
            if self._jwks is not None:
                return self._jwks
            if self._discovery_failed_at is not None and time.monotonic() - self._discovery_failed_at < FETCH_RETRY_AFTER:
                raise _unavailable("signing keys are not available yet")
            try:
                url = self._jwks_url or self._discover()
            except AuthError:
                self._discovery_failed_at = time.monotonic()
                raise
            self._jwks = _JWKClient(
                url,
                cache_jwk_set=True,
                lifespan=300,  # tokenmint's default JWKS max-age
                timeout=self.http_timeout,
                cooldown_duration=KEY_REFETCH_COOLDOWN,
            )
            return self._jwks

    def _discover(self) -> str:
        try:
            response = httpx.get(self.discovery_url, timeout=self.http_timeout, follow_redirects=False)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as err:
            log.warning("discovery at %s failed: %s", self.discovery_url, err)
            raise _unavailable("signing keys are not available yet") from None
        # RFC 8414 §3.3: the document must name exactly the issuer we expect.
        if not isinstance(doc, dict) or doc.get("issuer") != self.issuer:
            log.error("discovery at %s names issuer %r, not TOKENMINT_ISSUER %r",
                      self.discovery_url, doc.get("issuer") if isinstance(doc, dict) else None, self.issuer)
            raise _unavailable("signing keys are not available (issuer mismatch in discovery)")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise _unavailable("signing keys are not available (no jwks_uri in discovery)")
        return jwks_uri

    def warm_up(self) -> None:
        """Fetches discovery and the JWKS now, so the first request does not wait; errors are
        logged only (they are retried on demand)."""
        try:
            self._client().get_signing_keys()
        except (AuthError, PyJWKClientError, jwt.PyJWTError) as err:
            log.warning("could not fetch the signing keys at start-up: %s", err)

    # -- verification -------------------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_LEN:
            raise AuthError("token is too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError("token is not a JWT")
        header = _json_object(parts[0], "header")
        _json_object(parts[1], "claims set")  # only to refuse repeated member names

        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
            raise AuthError("token is not an access token (typ must be at+jwt)")
        if "crit" in header:
            raise AuthError("token header has crit, which is not supported")
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError("token algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token names no key")

        try:
            key = self._client().get_signing_key(kid)
        except PyJWKClientConnectionError:
            raise _unavailable("signing keys are not available") from None
        except PyJWKClientError:
            raise AuthError("token is signed by an unknown key") from None
        # The algorithm is the JWK's, never the token's; and only one we accept.
        key_alg = key.algorithm_name
        if key_alg not in ALLOWED_ALGORITHMS:
            raise AuthError("token is signed by a key of an algorithm that is not accepted")

        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[key_alg],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": REQUIRED_CLAIMS,
                    # Time claims are checked below against self.clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "strict_aud": False,
                },
            )
        except jwt.InvalidAlgorithmError:
            raise AuthError("token algorithm does not match its key") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token has the wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token is not for this audience") from None
        except jwt.MissingRequiredClaimError as err:
            raise AuthError(f"token lacks the {err.claim} claim") from None
        except jwt.PyJWTError:
            raise AuthError("token is malformed") from None

        self._check_claims(claims)
        self._check_revocation(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in ("exp", "iat", "auth_time"):
            if not _is_int(claims[name]):
                raise AuthError(f"token claim {name} is not a number")
        for name in ("sub", "sid", "jti", "client_id"):
            if not isinstance(claims[name], str) or not claims[name]:
                raise AuthError(f"token claim {name} is not a string")
        now = self.clock()
        if claims["exp"] <= now - self.leeway:
            raise AuthError("token has expired")
        if claims["iat"] > now + self.leeway:
            raise AuthError("token is issued in the future")
        if "nbf" in claims and (not _is_int(claims["nbf"]) or claims["nbf"] > now + self.leeway):
            raise AuthError("token is not valid yet")
        labels = claims.get("labels")
        if labels is not None and not (isinstance(labels, list) and all(isinstance(l, str) for l in labels)):
            raise AuthError("token claim labels is not a list of strings")
        act = claims.get("act")
        if act is not None and not (isinstance(act, dict) and isinstance(act.get("sub"), str) and act["sub"]):
            raise AuthError("token claim act has no sub")

    def _check_revocation(self, claims: dict[str, Any]) -> None:
        if self.feed is None:
            return
        if self.feed.revocations.revokes(claims["sid"], claims["sub"], claims["iat"]):
            raise AuthError("token has been revoked")
        if self.fail_closed:
            age = self.feed.staleness()
            if age is None or age > self.max_staleness:
                raise _unavailable("revocations cannot be checked right now")


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    # RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
    if header is None:
        raise AuthError("no access token", error=None)
    scheme, _, token = header.partition(" ")
    token = token.strip(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization is not a Bearer token", error=None)
    return token


def require_user(request: Request) -> dict[str, Any]:
    """FastAPI dependency: the verified claims of the caller's access token, or a refusal
    (401 with `WWW-Authenticate: Bearer error="invalid_token"`, see `app.py`)."""
    verifier: Verifier = request.app.state.verifier
    return verifier.verify(bearer_token(request))
