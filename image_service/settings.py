"""The image service's frozen settings, read once from the environment at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass

from qrpass.core.config import CommonSettings, ConfigError, Env
from qrpass.core.grpc_server import GrpcServerSettings


@dataclass(frozen=True)
class ImageSettings:
    """Everything the image service reads from the environment."""

    common: CommonSettings
    grpc: GrpcServerSettings
    listen_addr: str
    metrics_port: int
    redis_url: str | None
    redis_cluster: bool
    ttl_seconds: int
    render_workers: int
    memory_cache_bytes: int

    def __repr__(self) -> str:  # the Redis URL may hold a password
        return f"ImageSettings(listen_addr={self.listen_addr!r}, cluster={self.redis_cluster})"

    @classmethod
    def from_env(cls, env: Env | None = None) -> ImageSettings:
        env = env or Env()
        redis_url = env.optional("REDIS_URL")
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://")):
            raise ConfigError("REDIS_URL must start with redis:// or rediss://")
        cluster = env.bool("REDIS_CLUSTER")
        if cluster and redis_url is None:
            raise ConfigError("REDIS_CLUSTER=true needs REDIS_URL naming any cluster node")
        common = CommonSettings.from_env(env)
        return cls(
            common=common,
            grpc=GrpcServerSettings.from_env(env, common),
            listen_addr=env.address("IMAGE_LISTEN_ADDR", "0.0.0.0:50052"),
            metrics_port=env.int("IMAGE_METRICS_PORT", 9102, maximum=65535),
            redis_url=redis_url,
            redis_cluster=cluster,
            ttl_seconds=env.int("QR_CACHE_TTL_SECONDS", 86400, minimum=1),
            render_workers=env.int("IMAGE_RENDER_WORKERS", os.cpu_count() or 1, maximum=64),
            memory_cache_bytes=env.int("QR_CACHE_MEMORY_BYTES", 256 * 1024 * 1024, minimum=1024),
        )
