"""gRPC client channels: round-robin over every address, quick reconnects, optional TLS."""

from __future__ import annotations

import json
from collections.abc import Sequence

import grpc

from qrpass.core.config import TlsSettings
from qrpass.core.tls import channel_credentials

# Calls that are safe to repeat. A replica that is shutting down cancels calls it accepted but
# had not started; gRPC retries those on another replica. Rotate, delete, import and clear
# change state and are never retried.
IDEMPOTENT = {
    "qrpass.token.v1.TokenService": ("IssueToken", "VerifyToken", "ListTokens", "GetJwks"),
    "qrpass.image.v1.ImageService": (
        "RenderQrCode", "WarmQrCodes", "InvalidateQrCode", "GetCacheStats",
    ),
}  # fmt: skip
_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [
                    {"service": service, "method": method}
                    for service, methods in IDEMPOTENT.items()
                    for method in methods
                ],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.01s",
                    "maxBackoff": "0.1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
                },
            }
        ],
        # Retries stop when more than half of recent calls failed, so an overload is not doubled.
        "retryThrottling": {"maxTokens": 20, "tokenRatio": 0.1},
    }
)
# Reconnect within about a second of a backend's return (gRPC's default backoff grows to 120 s).
CHANNEL_OPTIONS: tuple[tuple[str, object], ...] = (
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # Above the largest message either service sends (an image) or accepts (an import).
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
    ("grpc.max_send_message_length", 32 * 1024 * 1024),
)


def create_channel(
    target: str,
    tls: TlsSettings,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """An asyncio channel to `target`, in any gRPC target syntax (dns:///, ipv4:a,b, host:port)."""
    credentials = channel_credentials(tls)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, credentials, options=CHANNEL_OPTIONS, interceptors=interceptors
    )
