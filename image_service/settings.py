"""The image service's frozen settings, read once from the environment at start-up."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field

from qrpass.core.config import ENVIRON, ConfigError, Env
from qrpass.core.grpc_server import ServingSettings


@dataclass(frozen=True)
class ImageSettings(ServingSettings):
    """Everything the image service reads from the environment."""

    redis_url: str | None = field(repr=False)  # it may hold a password
    redis_cluster: bool
    ttl_seconds: int
    render_workers: int
    memory_cache_bytes: int

    @classmethod
    def from_env(cls, env: Env = ENVIRON) -> ImageSettings:
        serving = ServingSettings.read(
            env, ("IMAGE_LISTEN_ADDR", "0.0.0.0:50052"), ("IMAGE_METRICS_PORT", 9102)
        )
        redis_url = _redis_url(env)
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://")):
            raise ConfigError("REDIS_URL must start with redis:// or rediss://")
        cluster = env.bool("REDIS_CLUSTER")
        if cluster and redis_url is None:
            raise ConfigError("REDIS_CLUSTER=true needs REDIS_URL naming any cluster node")
        memory_on_purpose = env.optional("QRPASS_CACHE")
        if memory_on_purpose not in (None, "memory"):
            raise ConfigError(f"QRPASS_CACHE must be `memory` or unset, got {memory_on_purpose!r}")
        if memory_on_purpose and redis_url is not None:
            raise ConfigError("QRPASS_CACHE=memory and REDIS_URL are both set; pick one")
        if serving.common.production and redis_url is None and not memory_on_purpose:
            raise ConfigError(
                "production needs REDIS_URL (or QRPASS_CACHE=memory to run each replica on its "
                "own in-process cache on purpose)"
            )
        return cls(
            **vars(serving),
            redis_url=redis_url,
            redis_cluster=cluster,
            ttl_seconds=env.int("QR_CACHE_TTL_SECONDS", 86400, minimum=1),
            render_workers=env.int("IMAGE_RENDER_WORKERS", os.cpu_count() or 1, maximum=64),
            memory_cache_bytes=env.int("QR_CACHE_MEMORY_BYTES", 256 * 1024 * 1024, minimum=1024),
        )


# The original system's Redis settings. Honoured only when REDIS_URL is unset, and never mixed.
_PARTS = ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB")


def _redis_url(env: Env) -> str | None:
    """REDIS_URL, or one built from REDIS_HOST/PORT/PASSWORD/DB; a partial or mixed set stops."""
    url = env.optional("REDIS_URL")
    given = [name for name in _PARTS if env.optional(name) is not None]
    if not given:
        return url
    if url is not None:
        raise ConfigError(f"set REDIS_URL or {', '.join(given)}, not both")
    host = env.optional("REDIS_HOST")
    if host is None:
        raise ConfigError(f"{', '.join(given)} need REDIS_HOST (or set REDIS_URL instead)")
    port = env.int("REDIS_PORT", 6379, minimum=1, maximum=65535)
    db = env.int("REDIS_DB", 0, maximum=15)
    password = env.secret("REDIS_PASSWORD")
    auth = f":{urllib.parse.quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"
