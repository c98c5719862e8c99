"""The gateway against the real tokenmint (`$TOKENMINT_BIN demo --keep-running`)."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from forge import hs256, segments, unsigned


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response, description: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    body = response.json()
    assert body["error"] == "invalid_token"
    if description is not None:
        assert description in body["error_description"], body


# -- 1. a valid token passes; the upstream gets the verified user, not the caller's headers ----


def test_valid_token_is_forwarded_with_the_verified_user(tokenmint, gateway_for):
    gateway = gateway_for()
    token = tokenmint.access_token()
    _, claims = segments(token)
    response = gateway.post(
        "/orders/42?expand=items",
        headers={
            **bearer(token),
            "X-User-Id": "admin",  # spoofed: must be dropped
            "x-user-email": "root@example.com",
            "X-User-Role": "superuser",
            "X-Acting-User": "someone",
            "X-Request-Id": "keep-me",
        },
        content=b"hello",
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-upstream"] == "echo"
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/orders/42?expand=items"
    assert echoed["body"] == "hello"
    headers: dict[str, list[str]] = {}
    for name, value in echoed["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    assert headers["x-user-id"] == [claims["sub"]] == ["demo"]
    assert headers["x-user-email"] == [claims["email"]]
    assert headers["x-user-labels"] == [",".join(claims["labels"])]
    assert headers["x-session-id"] == [claims["sid"]]
    assert "x-user-role" not in headers
    assert "x-acting-user" not in headers  # no act claim: not impersonated
    assert "authorization" not in headers  # FORWARD_ACCESS_TOKEN is off by default
    assert headers["x-request-id"] == ["keep-me"]


def test_me_returns_the_verified_claims(tokenmint, gateway_for):
    gateway = gateway_for()
    token = tokenmint.access_token()
    response = gateway.get("/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == segments(token)[1]


def test_no_token_is_refused_with_a_bearer_challenge(gateway_for):
    response = gateway_for().get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert gateway_for().get("/orders", headers={"Authorization": "Basic eDp5"}).status_code == 401


# -- 2. refusals -------------------------------------------------------------------------------


def test_wrong_audience_is_refused(tokenmint, gateway_for):
    # tokenmint's demo mints for `api` only, so the gateway is the one expecting another.
    gateway = gateway_for(audience="orders")
    assert_refused(gateway.get("/me", headers=bearer(tokenmint.access_token())), "audience")


def test_wrong_issuer_is_refused(tokenmint, gateway_for):
    # A gateway that expects another issuer (the same server under another name) but reads the
    # real JWKS: the signature is good, so only the `iss` check can refuse it.
    other = tokenmint.url.replace("127.0.0.1", "localhost")
    gateway = gateway_for(issuer=other, jwks_url=f"{tokenmint.url}/.well-known/jwks.json")
    assert_refused(gateway.get("/me", headers=bearer(tokenmint.access_token())), "issuer")


def test_a_token_signed_by_another_key_claiming_the_issuer_is_refused(tokenmint, gateway_for):
    gateway = gateway_for()
    real_header, claims = segments(tokenmint.access_token())
    mine = ec.generate_private_key(ec.SECP256R1())
    # Our key under our own kid: not in tokenmint's JWKS.
    forged = jwt.encode(claims, mine, algorithm="ES256", headers={"typ": "at+jwt", "kid": "attacker"})
    assert_refused(gateway.get("/me", headers=bearer(forged)), "unknown key")
    # Our key under tokenmint's kid: the signature does not verify.
    forged = jwt.encode(claims, mine, algorithm="ES256", headers={"typ": "at+jwt", "kid": real_header["kid"]})
    assert_refused(gateway.get("/me", headers=bearer(forged)), "signature")


def test_alg_confusion_is_refused(tokenmint, gateway_for):
    gateway = gateway_for()
    token = tokenmint.access_token()
    header, claims = segments(token)
    jwks = httpx.get(f"{tokenmint.url}/.well-known/jwks.json").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = jwt.PyJWK(jwk).key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = {**header, "alg": "HS256"}
    # HMAC keyed with every public form of the key a confused verifier might use as the secret.
    for secret in (pem, json.dumps(jwk).encode(), json.dumps(jwk, separators=(",", ":")).encode()):
        assert_refused(gateway.get("/me", headers=bearer(hs256(hs_header, claims, secret))), "algorithm")
    for alg in ("none", "None", "NONE"):
        assert_refused(gateway.get("/me", headers=bearer(unsigned({**header, "alg": alg}, claims))), "algorithm")
    # A real signature under a header that names another accepted algorithm than the JWK's.
    signature = token.rsplit(".", 1)[1]
    relabelled = unsigned({**header, "alg": "RS256"}, claims) + signature
    assert_refused(gateway.get("/me", headers=bearer(relabelled)), "does not match its key")


def test_expired_token_is_refused(tokenmint, gateway_for):
    # A real token, verified on a clock moved past its exp plus the leeway. Not a hand-signed
    # "expired" token: that would fail on its signature before its exp is ever looked at.
    token = tokenmint.access_token()
    exp = segments(token)[1]["exp"]
    late = gateway_for(clock=lambda: exp + 31)  # the default leeway is 30 s
    assert_refused(late.get("/me", headers=bearer(token)), "expired")
    # The same token and gateway code on a clock inside the leeway still pass: it is the clock.
    on_time = gateway_for(clock=lambda: exp + 29)
    assert on_time.get("/me", headers=bearer(token)).status_code == 200


def test_typ_other_than_at_jwt_is_refused(tokenmint, gateway_for):
    # tokenmint signs nothing but at+jwt, so with its real keys only a changed header can be
    # tried, and the typ check refuses it before the (now broken) signature is looked at.
    # tests/test_own_issuer.py checks typ on correctly signed tokens of a key we control.
    gateway = gateway_for()
    token = tokenmint.access_token()
    header, claims = segments(token)
    signature = token.rsplit(".", 1)[1]
    for typ in ("JWT", "jwt", "at+JWT+x", ""):
        token = unsigned({**header, "typ": typ}, claims) + signature
        assert_refused(gateway.get("/me", headers=bearer(token)), "typ")


# -- 3. revocation through the feed ------------------------------------------------------------


def _wait_until_refused(gateway, token: str, bound: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < bound:
        response = gateway.get("/me", headers=bearer(token))
        if response.status_code == 401:
            assert_refused(response, "revoked")
            return time.monotonic() - start
        assert response.status_code == 200, response.text
        time.sleep(0.05)
    pytest.fail(f"the revoked token was still accepted after {bound} s")


def test_a_session_revoked_by_the_admin_api_is_refused_within_a_feed_interval(tokenmint, gateway_for):
    gateway = gateway_for(feed_interval=0.5)
    revoked, kept = tokenmint.access_token(), tokenmint.access_token()
    assert gateway.get("/me", headers=bearer(revoked)).status_code == 200
    tokenmint.revoke_session(segments(revoked)[1]["sid"])
    # One interval (0.5 s) plus a poll's round trip on a busy machine.
    took = _wait_until_refused(gateway, revoked, bound=3.0)
    print(f"refused {took:.2f} s after the revocation")
    # Only that session: another of the same user still passes.
    assert gateway.get("/me", headers=bearer(kept)).status_code == 200
    # And a gateway started after the revocation refuses it from its first request.
    assert_refused(gateway_for().get("/me", headers=bearer(revoked)), "revoked")


def test_revoking_all_of_a_users_sessions_refuses_their_older_tokens(tokenmint, gateway_for):
    gateway = gateway_for(feed_interval=0.5)
    old = tokenmint.access_token()
    assert gateway.get("/me", headers=bearer(old)).status_code == 200
    response = tokenmint.http.delete(
        f"{tokenmint.url}/admin/v1/users/demo/sessions",
        headers={"Authorization": f"Bearer {tokenmint.admin_key}"},
    )
    assert response.status_code in (200, 204), response.text
    _wait_until_refused(gateway, old, bound=3.0)
    # A token issued after the user's not-before passes (iat is in whole seconds: wait one).
    time.sleep(1.1)
    assert gateway.get("/me", headers=bearer(tokenmint.access_token())).status_code == 200


def test_a_feed_key_tokenmint_refuses_is_reported_and_fail_closed_refuses(tokenmint, gateway_for):
    token = tokenmint.access_token()
    # Fail open (the default): the token passes, the failure is reported.
    gateway = gateway_for(feed_key="tma_wrong_key")
    assert gateway.get("/me", headers=bearer(token)).status_code == 200
    health = gateway.get("/healthz").json()["feed"]
    assert health["failures"] >= 1 and "TOKENMINT_FEED_KEY" in health["last_error"]
    assert health["synced_seconds_ago"] is None
    # Fail closed: nothing passes until the feed has been read.
    closed = gateway_for(feed_key="tma_wrong_key", feed_fail_closed=True, feed_max_staleness=5)
    response = closed.get("/me", headers=bearer(token))
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    # With the right key, fail closed passes.
    good = gateway_for(feed_fail_closed=True, feed_max_staleness=5)
    assert good.get("/me", headers=bearer(token)).status_code == 200
