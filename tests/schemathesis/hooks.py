"""schemathesis hooks for tests/api/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS; the
test passes the values below in the environment). Each operation gets the credential its
OpenAPI security scheme names, set as explicit auth so that schemathesis's `ignored_auth` check
can take it away again:

- `/admin/*` and `POST /oauth/introspect`: the admin key the test created.
- `/v1/me/*`: an access token of a new session for every test case, from a token exchange of
  the Appwrite JWT the test passes in. A generated case may revoke the session its token
  belongs to (DELETE /v1/me/sessions/{id} with an id GET /v1/me/sessions returned), which
  must not turn every later case into a 401.
- `POST /webhooks/appwrite`: signed the way Appwrite signs (base64 HMAC-SHA1 of the webhook
  URL followed by the raw body, under the webhook key), so that generated deliveries reach
  the event parser instead of stopping at the signature check.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import schemathesis
from schemathesis.core import NotSet

ADMIN_KEY = os.environ["TOKENMINT_SCHEMATHESIS_ADMIN_KEY"]
BASE_URL = os.environ["TOKENMINT_SCHEMATHESIS_URL"]
APPWRITE_JWT = os.environ["TOKENMINT_SCHEMATHESIS_APPWRITE_JWT"]
WEBHOOK_KEY = os.environ["TOKENMINT_SCHEMATHESIS_WEBHOOK_KEY"].encode()
WEBHOOK_URL = os.environ["TOKENMINT_SCHEMATHESIS_WEBHOOK_URL"].encode()


@schemathesis.auth(refresh_interval=None)
class Credentials:
    """The credential each operation's security scheme names (see the module's doc)."""

    def get(self, case, ctx):
        """The (header, value) pair for this case, or None for unauthenticated operations."""
        path = case.operation.path
        if path.startswith("/admin/") or path == "/oauth/introspect":
            return ("Authorization", f"Bearer {ADMIN_KEY}")
        if path.startswith("/v1/me/"):
            return ("Authorization", f"Bearer {fresh_access_token()}")
        if path == "/webhooks/appwrite":
            return ("X-Appwrite-Webhook-Signature", webhook_signature(body_bytes(case.body)))
        return None

    def set(self, case, data, ctx):
        name, value = data
        case.headers = case.headers or {}
        case.headers[name] = value


def fresh_access_token():
    """Exchanges the Appwrite JWT for an access token of a new session.

    A generated case may revoke all of the user's sessions (DELETE
    /admin/v1/users/{user_id}/sessions with the user id a session listing returned). That sets
    the user's not-before to the current second, and tokenmint refuses sign-ins checked before
    it: within that second the exchange is `invalid_grant`, so it is retried once a second later.
    """
    form = urllib.parse.urlencode(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": APPWRITE_JWT,
            "subject_token_type": "urn:tokenmint:params:token-type:appwrite-jwt",
        }
    ).encode()
    for attempt in range(2):
        try:
            with urllib.request.urlopen(f"{BASE_URL}/oauth/token", form, timeout=10) as answer:
                return json.load(answer)["access_token"]
        except urllib.error.HTTPError:
            if attempt == 1:
                raise
            time.sleep(1.1)


def body_bytes(body):
    """The bytes schemathesis sends for a JSON body (see `before_call`)."""
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


def webhook_signature(raw):
    """How Appwrite signs: base64(HMAC-SHA1(key, webhook URL + raw body))."""
    tag = hmac.new(WEBHOOK_KEY, WEBHOOK_URL + raw, hashlib.sha1).digest()
    return base64.b64encode(tag).decode()


@schemathesis.hook
def before_call(context, case, kwargs):
    """Sends a webhook body as the exact bytes that were signed."""
    if case.path == "/webhooks/appwrite" and not isinstance(case.body, NotSet):
        if "data" not in kwargs and "json" not in kwargs:
            kwargs["data"] = body_bytes(case.body)
