"""`python -m token_service`: run the token service until SIGTERM."""

from __future__ import annotations

import logging
import sys

import uvloop
from prometheus_client import REGISTRY, start_http_server

from qrpass.core import tracing
from qrpass.core.config import load_or_exit
from qrpass.core.grpc_server import serve_until_signalled
from token_service.errors import TokenServiceError
from token_service.server import create_token_server
from token_service.settings import TokenSettings

log = logging.getLogger("token_service")


async def _main(settings: TokenSettings) -> None:
    running = await create_token_server(settings, REGISTRY)
    start_http_server(settings.metrics_port, registry=REGISTRY)
    log.info(
        "token service listening",
        extra={"port": running.port, "metrics_port": settings.metrics_port},
    )
    await serve_until_signalled(running)


def main() -> int:
    settings = load_or_exit("token_service", TokenSettings.from_env)
    tracing.start("token_service")
    try:
        uvloop.run(_main(settings))
    except (TokenServiceError, OSError) as error:
        log.error("cannot start: %s", error)
        print(f"token_service: cannot start: {error}", file=sys.stderr)
        return 1
    finally:
        tracing.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
