"""Verify tokenmint access tokens with PyJWT, as a Python microservice would.

Usage: verify_pyjwt.py ISSUER AUDIENCE CASES_JSON
CASES_JSON is a file holding [{"name", "token", "valid": bool}, ...]. The JWKS URL comes from
the issuer's discovery document; the algorithm comes from the JWK (PyJWKClient), never from
the token. Exits 0 when every case ends as expected.
"""

import json
import sys
import urllib.request

import jwt


def main() -> int:
    issuer, audience, cases_path = sys.argv[1:4]
    with urllib.request.urlopen(f"{issuer.rstrip('/')}/.well-known/openid-configuration") as response:
        discovery = json.load(response)
    assert discovery["issuer"] == issuer, discovery["issuer"]
    client = jwt.PyJWKClient(discovery["jwks_uri"])
    with open(cases_path) as file:
        cases = json.load(file)
    failures = 0
    for case in cases:
        try:
            if jwt.get_unverified_header(case["token"]).get("typ") != "at+jwt":
                raise jwt.InvalidTokenError("typ is not at+jwt")
            key = client.get_signing_key_from_jwt(case["token"])
            claims = jwt.decode(
                case["token"],
                key.key,
                algorithms=[key.algorithm_name],
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            accepted, detail = True, claims["sub"]
        except jwt.PyJWTError as error:
            accepted, detail = False, f"{type(error).__name__}: {error}"
        ok = accepted == case["valid"]
        failures += not ok
        print(f"pyjwt {jwt.__version__} {case['name']}: {'ok' if ok else 'WRONG'} ({detail})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
