"""The revocation-feed follower against a scripted feed (httpx.MockTransport): paging with
`more` and the cursor, user not-befores, pruning, and what a failure does."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from gateway.feed import FeedUnauthorized, FeedUnavailable, RevocationFeed

NOW = 1_800_000_000


def scripted(pages: dict[str | None, Any], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = pages[request.url.params.get("since")]
        if isinstance(answer, int):
            return httpx.Response(answer)
        return httpx.Response(200, json=answer)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def feed(client: httpx.AsyncClient, key: str | None = "tma_key") -> RevocationFeed:
    return RevocationFeed("http://tm/v1/revocations", key, 5, 30, client, clock=lambda: NOW)


def test_pages_are_followed_while_more_and_the_cursor_is_passed_back():
    seen: list[httpx.Request] = []
    pages = {
        None: {"cursor": "c1", "sessions": [{"sid": "s1", "exp": NOW + 60}], "users": [], "more": True},
        "c1": {"cursor": "c2", "sessions": [], "users": [{"sub": "u", "not_before": NOW - 10, "exp": NOW + 900}], "more": False},
        "c2": {"cursor": "c2", "sessions": [{"sid": "s2", "exp": NOW + 60}], "users": [], "more": False},
    }
    f = feed(scripted(pages, seen))
    asyncio.run(f.poll())
    assert [r.url.params.get("since") for r in seen] == [None, "c1"]
    assert all(r.headers["authorization"] == "Bearer tma_key" for r in seen)
    r = f.revocations
    assert r.revokes("s1", "x", NOW) and not r.revokes("s2", "x", NOW)
    assert r.revokes("other", "u", NOW - 11) and not r.revokes("other", "u", NOW - 10)
    assert f.staleness() is not None
    asyncio.run(f.poll())
    assert seen[-1].url.params.get("since") == "c2"
    assert r.revokes("s2", "x", NOW)


def test_entries_are_forgotten_once_every_token_they_affect_has_expired():
    pages = {None: {"cursor": "c", "more": False,
                    "sessions": [{"sid": "gone", "exp": NOW - 31}, {"sid": "live", "exp": NOW - 29}],
                    "users": [{"sub": "old", "not_before": NOW - 86400 - 31},  # no exp: 24 h
                              {"sub": "new", "not_before": NOW - 86400 + 60}]}}
    f = feed(scripted(pages, []))
    asyncio.run(f.poll())
    assert set(f.revocations.sessions) == {"live"}  # kept until exp + the 30 s leeway
    assert set(f.revocations.users) == {"new"}


def test_a_refused_key_is_reported_as_such():
    f = feed(scripted({None: 401}, []))
    with pytest.raises(FeedUnauthorized, match="TOKENMINT_FEED_KEY"):
        asyncio.run(f.poll())
    assert not asyncio.run(f.poll_logged())
    assert f.failures == 1 and f.staleness() is None


@pytest.mark.parametrize("answer", [503, {"sessions": []}, {"cursor": "c", "sessions": [{"sid": 1, "exp": 2}]},
                                    {"cursor": "c", "users": [{"sub": "u", "not_before": "yesterday"}]}])
def test_a_bad_answer_changes_nothing(answer):
    f = feed(scripted({None: answer}, []))
    with pytest.raises(FeedUnavailable):
        asyncio.run(f.poll())
    assert f.revocations.cursor is None and not f.revocations.sessions and not f.revocations.users
