"""Configuration from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < minimum or value != value:  # NaN
        raise ConfigError(f"{name} must be at least {minimum}, not {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    issuer: str
    """`TOKENMINT_ISSUER`: exactly tokenmint's `TOKENMINT_ISSUER`; tokens must carry it as `iss`."""
    audience: str
    """`TOKENMINT_AUDIENCE`: this gateway's audience; tokens must carry it in `aud`."""
    upstream_url: str | None = None
    """`UPSTREAM_URL`: where authenticated requests are proxied; unset: no proxy route."""
    feed_key: str | None = None
    """`TOKENMINT_FEED_KEY`: an admin key with the `feed` role, sent to the revocation feed."""
    feed_interval: float = 5.0
    """`FEED_INTERVAL_SECONDS`: revocation-feed poll interval; 0 turns the feed off."""
    feed_fail_closed: bool = False
    """`FEED_FAIL_CLOSED`: refuse every token (503) while the feed is older than
    `feed_max_staleness`; default false (fail open)."""
    feed_max_staleness: float = 30.0
    """`FEED_MAX_STALENESS_SECONDS`: with `FEED_FAIL_CLOSED`, the oldest acceptable last
    successful poll."""
    jwks_url: str | None = None
    """`TOKENMINT_JWKS_URL`: skip discovery and fetch keys here (when the gateway reaches
    tokenmint at another address than its public issuer URL)."""
    discovery_url: str | None = None
    """`TOKENMINT_DISCOVERY_URL`: where to read discovery (default
    `{issuer}/.well-known/openid-configuration`); its `issuer` must still equal ours."""
    leeway: float = 30.0
    """`TOKENMINT_LEEWAY_SECONDS`: clock skew allowed on `exp`, `iat` and `nbf`."""
    forward_access_token: bool = False
    """`FORWARD_ACCESS_TOKEN`: pass the caller's `Authorization` header upstream too."""
    http_timeout: float = 5.0
    """`TOKENMINT_HTTP_TIMEOUT_SECONDS`: timeout of discovery, JWKS and feed requests."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        issuer = env.get("TOKENMINT_ISSUER", "").strip()
        if not issuer:
            raise ConfigError("TOKENMINT_ISSUER is required: tokenmint's TOKENMINT_ISSUER, exactly")
        audience = env.get("TOKENMINT_AUDIENCE", "").strip()
        if not audience:
            raise ConfigError("TOKENMINT_AUDIENCE is required: the audience tokens must name")
        return cls(
            issuer=issuer,
            audience=audience,
            upstream_url=env.get("UPSTREAM_URL", "").strip() or None,
            feed_key=env.get("TOKENMINT_FEED_KEY", "").strip() or None,
            feed_interval=_number(env, "FEED_INTERVAL_SECONDS", 5.0),
            feed_fail_closed=_flag(env, "FEED_FAIL_CLOSED", False),
            feed_max_staleness=_number(env, "FEED_MAX_STALENESS_SECONDS", 30.0, minimum=0.001),
            jwks_url=env.get("TOKENMINT_JWKS_URL", "").strip() or None,
            discovery_url=env.get("TOKENMINT_DISCOVERY_URL", "").strip() or None,
            leeway=_number(env, "TOKENMINT_LEEWAY_SECONDS", 30.0),
            forward_access_token=_flag(env, "FORWARD_ACCESS_TOKEN", False),
            http_timeout=_number(env, "TOKENMINT_HTTP_TIMEOUT_SECONDS", 5.0, minimum=0.001),
        )
