"""`python -m gateway`: serve the HTTP gateway on uvicorn (uvloop, httptools) until SIGTERM."""

from __future__ import annotations

import logging
import sys

import uvicorn
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.protocol import BoundedHttpToolsProtocol
from gateway.settings import GatewaySettings
from qrpass.core import logs
from qrpass.core.config import ConfigError

log = logging.getLogger("gateway")


def main() -> int:
    try:
        settings = GatewaySettings.from_env()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure("gateway", settings.common.log_level)
    host, _, port = settings.listen_addr.rpartition(":")
    log.info("gateway listening", extra={"port": int(port)})
    uvicorn.run(
        create_app(settings, REGISTRY),
        host=host.strip("[]"),
        port=int(port),
        loop="uvloop",
        http=BoundedHttpToolsProtocol,  # httptools, with a cap on header bytes
        backlog=4096,
        log_config=None,  # our JSON logging, configured above
        access_log=False,
        timeout_graceful_shutdown=10,
        limit_concurrency=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
