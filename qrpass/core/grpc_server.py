"""gRPC server plumbing shared by both services: build, health, reflection, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from qrpass.core.config import TlsSettings
from qrpass.core.tls import server_credentials

log = logging.getLogger(__name__)

SERVER_OPTIONS: tuple[tuple[str, object], ...] = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # gRPC core rejects calls (CANCELLED) once more than 1,000 wait for the application to pick
    # them up; a gate rush of 5,000 passes had 40% rejected. The gateway's deadlines bound this.
    ("grpc.server.max_pending_requests", 10_000),
    ("grpc.server.max_pending_requests_hard_limit", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
)


@dataclass(frozen=True)
class Service:
    """A servicer with the generated function that registers it and its full proto name."""

    name: str
    servicer: Any
    register: Callable[[Any, grpc.aio.Server], None]


@dataclass
class RunningServer:
    """A started server with its bound port and health servicer."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    # Called before the drain: ends what would hold it open (streams) or outlive it (tasks).
    on_stop: list[Callable[[], object]] = field(default_factory=list)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace_seconds: float) -> None:
        """Report NOT_SERVING, then let in-flight calls finish for up to `grace_seconds`."""
        await self.set_serving(False)
        for callback in self.on_stop:
            callback()
        await self.server.stop(grace_seconds)


async def create_server(
    address: str,
    services: Sequence[Service],
    *,
    tls: TlsSettings,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> RunningServer:
    """Build, bind and start a server; bind "127.0.0.1:0" to get a free port."""
    server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS)
    for service in services:
        service.register(service.servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(s.name for s in services)
    reflection.enable_server_reflection(
        (
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    credentials = server_credentials(tls)
    try:  # grpcio raises RuntimeError on a failed bind (older versions returned port 0)
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {address}: the address is in use or invalid")
    await server.start()
    running = RunningServer(server, port, health_servicer, names)
    await running.set_serving(True)
    return running


async def serve_until_signalled(running: RunningServer, grace_seconds: float = 10.0) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight calls and stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight calls", extra={"grace_seconds": grace_seconds})
    await running.stop(grace_seconds)
    log.info("stopped")
