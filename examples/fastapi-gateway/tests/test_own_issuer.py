"""Checks that need correctly signed tokens tokenmint would never issue (another `typ`, a
missing claim, `crit`, a key of each algorithm): a stand-in issuer whose discovery document and
JWKS hold keys these tests control. Needs no tokenmint binary."""

from __future__ import annotations

import json
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi.testclient import TestClient

from conftest import serve
from forge import b64, segments
from gateway.app import create_app
from gateway.config import Settings

KEYS = {
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
}
HMAC_SECRET = b"a-shared-secret-that-must-never-count"


def _jwks() -> dict[str, Any]:
    keys = []
    for alg, private in KEYS.items():
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(private.public_key()))
        keys.append({**jwk, "kid": alg.lower(), "alg": alg, "use": "sig"})
    # A symmetric key in the JWKS must never be usable, whatever it claims.
    keys.append({"kty": "oct", "k": b64(HMAC_SECRET), "kid": "hs256", "alg": "HS256", "use": "sig"})
    return {"keys": keys}


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    state: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": state["url"], "jwks_uri": f"{state['url']}/.well-known/jwks.json"}
            elif self.path == "/.well-known/jwks.json":
                body = _jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with serve(Handler) as url:
        state["url"] = url
        yield url


@pytest.fixture(scope="module")
def gateway(issuer: str) -> Iterator[TestClient]:
    app = create_app(Settings(issuer=issuer, audience="api", feed_interval=0))
    with TestClient(app) as client:
        yield client


def claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "iss": issuer, "sub": "u1", "aud": "api", "exp": now + 900, "iat": now,
        "jti": str(uuid.uuid4()), "client_id": "anonymous", "sid": str(uuid.uuid4()),
        "auth_time": now, "email": "u1@example.com", "labels": ["admin"],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def sign(payload: dict[str, Any], alg: str = "ES256", **header: Any) -> str:
    return jwt.encode(payload, KEYS[alg], algorithm=alg, headers={"typ": "at+jwt", "kid": alg.lower(), **header})


def me(gateway: TestClient, token: str):
    return gateway.get("/me", headers={"Authorization": f"Bearer {token}"})


def refused(response, description: str) -> bool:
    return (
        response.status_code == 401
        and response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        and description in response.json()["error_description"]
    )


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_each_algorithm_tokenmint_signs_with_is_accepted(gateway, issuer, alg):
    response = me(gateway, sign(claims(issuer), alg))
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == "u1"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_access_token_types_are_accepted(gateway, issuer, typ):
    assert me(gateway, sign(claims(issuer), typ=typ)).status_code == 200


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "id_token+jwt", "", None])
def test_other_types_are_refused(gateway, issuer, typ):
    token = sign(claims(issuer), typ=typ) if typ is not None else jwt.encode(
        claims(issuer), KEYS["ES256"], algorithm="ES256", headers={"kid": "es256", "typ": None})
    if typ is None:
        assert "typ" not in segments(token)[0]
    assert refused(me(gateway, token), "typ")


def test_the_algorithm_comes_from_the_key_not_the_token(gateway, issuer):
    # An RS256 signature presented under the EdDSA key's kid: the token says RS256, the key says
    # EdDSA.
    token = sign(claims(issuer), "RS256", kid="eddsa")
    assert refused(me(gateway, token), "does not match its key")


def test_a_symmetric_key_in_the_jwks_is_never_used(gateway, issuer):
    token = jwt.encode(claims(issuer), HMAC_SECRET, algorithm="HS256", headers={"typ": "at+jwt", "kid": "hs256"})
    assert refused(me(gateway, token), "algorithm")


@pytest.mark.parametrize("missing", ["sub", "sid", "jti", "client_id", "auth_time", "iat", "exp", "aud", "iss"])
def test_every_tokenmint_claim_is_required(gateway, issuer, missing):
    assert refused(me(gateway, sign(claims(issuer, **{missing: None}))), "")


def test_mistyped_claims_are_refused(gateway, issuer):
    assert refused(me(gateway, sign(claims(issuer, sid=42))), "sid")
    assert refused(me(gateway, sign(claims(issuer, exp="9999999999"))), "")
    assert refused(me(gateway, sign(claims(issuer, labels="admin"))), "labels")
    assert refused(me(gateway, sign(claims(issuer, act="boss"))), "act")


def test_a_token_issued_in_the_future_is_refused(gateway, issuer):
    soon = int(time.time()) + 120
    assert refused(me(gateway, sign(claims(issuer, iat=soon, exp=soon + 900))), "future")


def test_crit_is_refused(gateway, issuer):
    assert refused(me(gateway, sign(claims(issuer), crit=["exp"])), "crit")


def test_repeated_member_names_are_refused(gateway, issuer):
    token = sign(claims(issuer, sub="u1"))
    header, payload, _ = token.split(".")
    body = json.dumps(claims(issuer, sub="u1"))[:-1] + ', "sub": "admin"}'
    forged = f"{header}.{b64(body.encode())}.{token.split('.')[2]}"
    assert refused(me(gateway, forged), "repeats")


def test_jku_and_embedded_keys_are_ignored(gateway, issuer):
    # A token signed by a key of our own that it carries in its header (jwk) or points to (jku):
    # only published keys count, so it names an unknown kid.
    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    token = jwt.encode(claims(issuer), attacker, algorithm="ES256",
                       headers={"typ": "at+jwt", "kid": "mine", "jwk": jwk, "jku": f"{issuer}/evil"})
    assert refused(me(gateway, token), "unknown key")


def test_impersonation_is_forwarded_as_the_acting_user(issuer, upstream):
    app = create_app(Settings(issuer=issuer, audience="api", feed_interval=0, upstream_url=upstream))
    with TestClient(app) as gateway:
        token = sign(claims(issuer, act={"sub": "support-7"}, labels=["a", "b"]))
        response = gateway.get("/x", headers={"Authorization": f"Bearer {token}", "X-Acting-User": "nobody"})
        assert response.status_code == 200, response.text
        headers = {k.lower(): v for k, v in response.json()["headers"]}
        assert headers["x-acting-user"] == "support-7"
        assert headers["x-user-id"] == "u1"
        assert headers["x-user-labels"] == "a,b"
