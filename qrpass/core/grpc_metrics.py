"""The standard grpc_server_* and grpc_client_* metrics, and when a call is past its deadline."""

from __future__ import annotations

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from qrpass.core.prometheus import Declare


def _rpc_metrics(side: str, registry: CollectorRegistry) -> tuple[Counter, Counter, Histogram]:
    """The standard started/handled/handling_seconds triplet for side "server" or "client"."""
    labels = ("grpc_type", "grpc_service", "grpc_method")
    declare = Declare(registry)
    started = declare.counter(f"grpc_{side}_started_total", f"RPCs started on the {side}.", labels)
    handled = declare.counter(
        f"grpc_{side}_handled_total",
        f"RPCs completed on the {side}, by status code.",
        (*labels, "grpc_code"),
    )
    seconds = declare.histogram(
        f"grpc_{side}_handling_seconds", f"Time to complete an RPC, seen from the {side}.", labels
    )
    return started, handled, seconds


# A cancel that lands this close to the deadline is the client's deadline firing. The client's
# timer starts before ours, and grpc's deadline is read against Python's wall clock: one CI run
# saw every late call of a process cancelled with time still showing on the server.
DEADLINE_SLACK_SECONDS = 0.1


def deadline_passed(remaining: float | None, slack: float = 0.0) -> bool:
    """Whether a call with `remaining` seconds left (None: no deadline) is out of time."""
    return remaining is not None and remaining <= slack


class ServerCall:
    """The grpc_server_* series of one method, resolved once."""

    def __init__(self, metrics: ServerMetrics, labels: tuple[str, str, str]) -> None:
        self._started = metrics.started_total.labels(*labels)
        self._timer = metrics.seconds.labels(*labels)
        self._handled, self._labels = metrics.handled_total, labels

    def started(self) -> None:
        self._started.inc()

    def handled(self, code: grpc.StatusCode, seconds: float) -> None:
        self._handled.labels(*self._labels, code.name).inc()
        self._timer.observe(seconds)


class ServerMetrics:
    """The grpc_server_* metrics; qrpass.core.grpc_errors' interceptor records every call."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started_total, self.handled_total, self.seconds = _rpc_metrics("server", registry)

    def call(self, grpc_type: str, service: str, method: str) -> ServerCall:
        return ServerCall(self, (grpc_type, service, method))


class ClientMetrics:
    """The grpc_client_* metrics. Callers record each call themselves: grpc.aio's client
    interceptors cost more CPU per call than everything else the gateway does for it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._started, self._handled, self._seconds = _rpc_metrics("client", registry)

    def started(self, service: str, method: str) -> None:
        self._started.labels("unary", service, method).inc()

    def handled(self, service: str, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self._handled.labels("unary", service, method, code.name).inc()
        self._seconds.labels("unary", service, method).observe(seconds)
