"""The revocation-feed follower: polls `GET {issuer}/v1/revocations?since=CURSOR` and keeps the
revoked session ids and user not-befores that can still matter (the same rules as tokenmint's
own `crates/verify/src/feed.rs`).

A session entry `{"sid", "exp"}` revokes every token with that `sid`; a user entry
`{"sub", "not_before", "exp"}` revokes that user's tokens whose `iat` is before `not_before`.
`exp` says when the entry stops mattering (every token it could affect has expired), so it is
forgotten after `exp` + leeway. A user entry without `exp` (an older server) is kept for
`not_before` + 24 h, the longest access-token lifetime tokenmint allows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

log = logging.getLogger("gateway.feed")

USER_ENTRY_FALLBACK_LIFETIME = 24 * 3600
MAX_PAGES_PER_POLL = 1000
"""A bound on `more` pages followed in one poll (a misbehaving server cannot pin us)."""


class FeedUnauthorized(Exception):
    """The feed refused our key (401/403): a configuration error, reported as such."""


class FeedUnavailable(Exception):
    """The feed could not be read (network, 5xx, malformed answer)."""


@dataclass
class _User:
    not_before: int
    exp: int


class Revocations:
    """What the feed has said so far. Thread-safe: the poller writes from the event loop while
    `require_user` reads from the threadpool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cursor: str | None = None
        self.sessions: dict[str, int] = {}
        self.users: dict[str, _User] = {}

    def revokes(self, sid: str, sub: str, iat: int) -> bool:
        with self._lock:
            if sid in self.sessions:
                return True
            user = self.users.get(sub)
            return user is not None and iat < user.not_before

    def apply(self, page: dict[str, Any]) -> None:
        """Records one page (already validated by `parse_page`). A sid or user keeps the latest
        `exp` (and the latest `not_before`) of its entries."""
        with self._lock:
            for entry in page["sessions"]:
                sid, exp = entry["sid"], entry["exp"]
                self.sessions[sid] = max(exp, self.sessions.get(sid, exp))
            for entry in page["users"]:
                nb = entry["not_before"]
                exp = entry.get("exp")
                if exp is None:
                    exp = nb + USER_ENTRY_FALLBACK_LIFETIME
                known = self.users.get(entry["sub"])
                if known is None:
                    self.users[entry["sub"]] = _User(nb, exp)
                else:
                    known.not_before = max(known.not_before, nb)
                    known.exp = max(known.exp, exp)
            self.cursor = page["cursor"]

    def prune(self, oldest_accepted_exp: float) -> None:
        """Forgets entries whose tokens have all expired: a token with `exp` below
        `oldest_accepted_exp` (now minus leeway) is refused as expired anyway."""
        with self._lock:
            self.sessions = {s: e for s, e in self.sessions.items() if e >= oldest_accepted_exp}
            self.users = {u: v for u, v in self.users.items() if v.exp >= oldest_accepted_exp}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_page(body: Any) -> dict[str, Any]:
    """Validates a feed answer; anything malformed is `FeedUnavailable` (never half-applied)."""
    if not isinstance(body, dict) or not isinstance(body.get("cursor"), str):
        raise FeedUnavailable("feed answer has no cursor")
    sessions = body.get("sessions", [])
    users = body.get("users", [])
    more = body.get("more", False)
    if not isinstance(sessions, list) or not isinstance(users, list) or not isinstance(more, bool):
        raise FeedUnavailable("feed answer is malformed")
    for entry in sessions:
        if not (isinstance(entry, dict) and isinstance(entry.get("sid"), str) and _is_int(entry.get("exp"))):
            raise FeedUnavailable("feed answer has a malformed session entry")
    for entry in users:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("sub"), str)
            and _is_int(entry.get("not_before"))
            and (entry.get("exp") is None or _is_int(entry.get("exp")))
        ):
            raise FeedUnavailable("feed answer has a malformed user entry")
    return {"cursor": body["cursor"], "sessions": sessions, "users": users, "more": more}


class RevocationFeed:
    """Polls the feed every `interval` seconds in a background task (see `run`)."""

    def __init__(
        self,
        url: str,
        key: str | None,
        interval: float,
        leeway: float,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.key = key
        self.interval = interval
        self.leeway = leeway
        self.client = client
        self.clock = clock
        self.revocations = Revocations()
        self.synced_at: float | None = None
        """`time.monotonic()` of the last poll that read the feed to its end."""
        self.last_error: str | None = None
        self.failures = 0
        """Failed polls so far (alert on it)."""

    async def poll(self) -> None:
        """Reads every page since the cursor (following `more`), then prunes."""
        headers = {"Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        for _ in range(MAX_PAGES_PER_POLL):
            params = {"since": self.revocations.cursor} if self.revocations.cursor else None
            try:
                response = await self.client.get(self.url, params=params, headers=headers)
            except httpx.HTTPError as err:
                raise FeedUnavailable(f"{type(err).__name__}: {err}") from None
            if response.status_code in (401, 403):
                raise FeedUnauthorized(
                    f"HTTP {response.status_code}: TOKENMINT_FEED_KEY is "
                    + ("wrong, revoked or not allowed" if self.key else "not set and the feed needs one")
                )
            if response.status_code != 200:
                raise FeedUnavailable(f"HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise FeedUnavailable("feed answer is not JSON") from None
            page = parse_page(body)
            self.revocations.apply(page)
            if not page["more"]:
                break
        else:
            raise FeedUnavailable(f"feed still had more after {MAX_PAGES_PER_POLL} pages")
        self.revocations.prune(self.clock() - self.leeway)
        self.synced_at = time.monotonic()
        if self.last_error is not None:
            log.info("revocation feed readable again")
        self.last_error = None

    async def poll_logged(self) -> bool:
        try:
            await self.poll()
            return True
        except (FeedUnavailable, FeedUnauthorized) as err:
            self.failures += 1
            self.last_error = str(err)
            level = logging.ERROR if isinstance(err, FeedUnauthorized) else logging.WARNING
            log.log(level, "revocation feed poll failed (%d so far): %s", self.failures, err)
            return False

    async def run(self) -> None:
        """Polls forever; cancelled by the app's lifespan at shutdown."""
        while True:
            await asyncio.sleep(self.interval)
            await self.poll_logged()

    def staleness(self) -> float | None:
        """Seconds since the last successful poll; None before the first."""
        return None if self.synced_at is None else time.monotonic() - self.synced_at
