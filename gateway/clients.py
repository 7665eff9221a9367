"""The gateway's two backends: the shared typed clients, with its deadline, its client metrics,
and failures mapped to ApiError (an HTTP problem) at this one boundary."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from gateway.errors import from_rpc_error
from gateway.settings import GatewaySettings
from qrpass.core import tracing
from qrpass.core.clients import CallPolicy
from qrpass.core.grpc_metrics import ClientMetrics


class Backends:
    """Both clients, open for the app's lifetime."""

    def __init__(self, settings: GatewaySettings, registry: CollectorRegistry) -> None:
        policy = CallPolicy(
            settings.deadline_seconds, ClientMetrics(registry), from_rpc_error,
            tracing.client_interceptors(),
        )  # fmt: skip
        self.token = settings.targets.token_client(policy)
        self.image = settings.targets.image_client(policy)

    async def health(self) -> dict[str, str]:
        """Each backend's gRPC health status, checked in parallel."""
        token, image = await asyncio.gather(self.token.health(), self.image.health())
        return {self.token.name: token, self.image.name: image}

    async def close(self) -> None:
        await asyncio.gather(self.token.close(), self.image.close())
