"""gRPC server plumbing shared by both services: security, limits, health, reflection, stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from qrpass.core import reflection, tracing
from qrpass.core.authz import AuthzPolicy, interceptors_for
from qrpass.core.config import CommonSettings, ConfigError, Env, TlsSettings
from qrpass.core.grpc_errors import ErrorCodes, ServerInterceptor
from qrpass.core.tls import server_credentials

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Calls one process runs at once; past it gRPC answers RESOURCE_EXHAUSTED at once instead of
# queueing without bound. Sized to the pending-request limit below.
MAX_CONCURRENT_RPCS = 10_000

SERVER_OPTIONS: tuple[tuple[str, object], ...] = (
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # gRPC core rejects calls (CANCELLED) once more than 1,000 wait for the application to pick
    # them up; a gate rush of 5,000 passes had 40% rejected. The gateway's deadlines bound this.
    ("grpc.server.max_pending_requests", 10_000),
    ("grpc.server.max_pending_requests_hard_limit", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
)


@dataclass(frozen=True)
class MessageLimits:
    """The largest message a service accepts and sends: what its methods need, no more."""

    receive_bytes: int
    send_bytes: int


@dataclass(frozen=True)
class GrpcServerSettings:
    """Who may call a service: TLS (mTLS with a CA), the authorization policy, reflection."""

    tls: TlsSettings
    policy: AuthzPolicy | None
    reflection: bool

    @classmethod
    def from_env(cls, env: Env, common: CommonSettings) -> GrpcServerSettings:
        """Production serves mTLS with a policy, unless a service mesh does both (`mesh`)."""
        plaintext = env.optional("QRPASS_GRPC_PLAINTEXT")
        if plaintext not in (None, "mesh"):
            raise ConfigError(f"QRPASS_GRPC_PLAINTEXT must be `mesh` or unset, got {plaintext!r}")
        mesh = plaintext == "mesh"
        if mesh and common.tls.enabled:
            raise ConfigError("QRPASS_GRPC_PLAINTEXT=mesh and QRPASS_TLS_* are both set; pick one")
        policy_file = env.file("QRPASS_GRPC_AUTHZ_POLICY_FILE")
        if common.production and not mesh:
            if common.tls.cert_file is None or common.tls.ca_file is None:
                raise ConfigError(
                    "production serves gRPC over mTLS: set QRPASS_TLS_CERT_FILE, "
                    "QRPASS_TLS_KEY_FILE and QRPASS_TLS_CA_FILE (or QRPASS_GRPC_PLAINTEXT=mesh "
                    "when a service mesh does mTLS and authorization)"
                )
            if policy_file is None:
                raise ConfigError(
                    "production needs QRPASS_GRPC_AUTHZ_POLICY_FILE to say who may call what "
                    "(or QRPASS_GRPC_PLAINTEXT=mesh when a service mesh authorizes calls)"
                )
        return cls(
            tls=common.tls,
            policy=AuthzPolicy.load(policy_file) if policy_file else None,
            reflection=not common.production,
        )


@dataclass(frozen=True)
class ServingSettings:
    """What a gRPC service's settings begin with: the shared settings, who may call it, where it
    listens and where its metrics are. Each service's settings extend it with their own."""

    common: CommonSettings
    grpc: GrpcServerSettings
    listen_addr: str
    metrics_port: int

    @staticmethod
    def read(env: Env, listen: tuple[str, str], metrics: tuple[str, int]) -> ServingSettings:
        """These settings, which a subclass's `from_env` extends (`cls(**vars(serving), ...)`):
        `listen` and `metrics` name the variable and its default."""
        common = CommonSettings.from_env(env)
        return ServingSettings(
            common=common,
            grpc=GrpcServerSettings.from_env(env, common),
            listen_addr=env.address(*listen),
            metrics_port=env.int(*metrics, maximum=65535),
        )


@dataclass(frozen=True)
class Service:
    """A servicer with the generated function that registers it, its full proto name, its
    message limits and how its domain errors map to status codes."""

    name: str
    servicer: Any
    register: Callable[[Any, grpc.aio.Server], None]
    limits: MessageLimits
    error_codes: ErrorCodes


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
    address: str, service: Service, security: GrpcServerSettings, registry: CollectorRegistry
) -> RunningServer:
    """Build, bind and start a server; bind "127.0.0.1:0" to get a free port.

    The metrics and error-mapping interceptor runs outside the authorization check, so refused
    calls are still counted.
    """
    options = (
        *SERVER_OPTIONS,
        ("grpc.max_receive_message_length", service.limits.receive_bytes),
        ("grpc.max_send_message_length", service.limits.send_bytes),
    )
    metered = ServerInterceptor(registry, service.error_codes)
    server = grpc.aio.server(
        interceptors=(*tracing.server_interceptors(), metered, *interceptors_for(security.policy)),
        options=options,
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
    )
    service.register(service.servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (service.name,)
    if security.reflection:
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable(server, (*names, health_name))
    credentials = server_credentials(security.tls)
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
