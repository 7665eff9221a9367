"""gRPC client channels: round-robin over every address, quick reconnects, optional TLS."""

from __future__ import annotations

import json
from collections.abc import Sequence

import grpc
from google.protobuf.descriptor_pb2 import MethodOptions

from qrpass.core.config import TlsSettings
from qrpass.core.tls import channel_credentials
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.token.v1 import token_service_pb2 as token_pb

# Calls that are safe to repeat: the proto marks them with `idempotency_level`. A replica that
# is shutting down cancels calls it accepted but had not started; gRPC retries those on another
# replica. Rotate, delete, import, clear and check-in change state and are never retried.
RETRIED = [
    {"service": service.full_name, "method": method.name}
    for api in (token_pb.DESCRIPTOR, image_pb.DESCRIPTOR)
    for service in api.services_by_name.values()
    for method in service.methods
    if method.GetOptions().idempotency_level != MethodOptions.IDEMPOTENCY_UNKNOWN
]
_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": RETRIED,
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
