"""`python -m gateway`: serve the HTTP gateway on uvicorn (uvloop, httptools) until SIGTERM."""

from __future__ import annotations

import logging
import resource
import sys

import uvicorn
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.protocol import BoundedHttpToolsProtocol
from gateway.settings import GatewaySettings
from qrpass.core import tracing
from qrpass.core.config import load_or_exit

log = logging.getLogger("gateway")

# Open connections (and requests in flight) one gateway holds; past it a request gets 503.
# Slow and idle clients are closed by the head and keep-alive timeouts long before that.
MAX_CONNECTIONS = 10_000
KEEP_ALIVE_SECONDS = 5


def _allow_open_files(needed: int) -> None:
    """Raise the soft open-file limit towards `needed` (the default 1,024 is below it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main() -> int:
    settings = load_or_exit("gateway", GatewaySettings.from_env)
    host, _, port = settings.listen_addr.rpartition(":")
    _allow_open_files(MAX_CONNECTIONS + 1024)  # connections, plus channels and logs
    log.info("gateway listening", extra={"port": int(port)})
    tracing.start("gateway")  # stopped (its last spans sent) by the app's lifespan
    uvicorn.run(
        create_app(settings, REGISTRY),
        host=host.strip("[]"),
        port=int(port),
        loop="uvloop",
        http=BoundedHttpToolsProtocol,  # httptools, with a cap on head bytes and time
        backlog=4096,
        log_config=None,  # our JSON logging, configured above
        access_log=False,
        timeout_graceful_shutdown=10,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
