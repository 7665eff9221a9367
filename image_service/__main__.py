"""`python -m image_service`: run the image service until SIGTERM."""

from __future__ import annotations

import logging
import sys

import uvloop
from prometheus_client import REGISTRY, start_http_server

from image_service.pool import RenderPool
from image_service.render import RENDERER_VERSION
from image_service.server import create_image_server
from image_service.settings import ImageSettings
from qrpass.core import tracing
from qrpass.core.config import load_or_exit
from qrpass.core.grpc_server import serve_until_signalled

log = logging.getLogger("image_service")


async def _main(settings: ImageSettings, pool: RenderPool) -> None:
    running = await create_image_server(settings, REGISTRY, pool)
    start_http_server(settings.metrics_port, registry=REGISTRY)
    log.info(
        "image service listening",
        extra={
            "port": running.port,
            "metrics_port": settings.metrics_port,
            "cache": "memory" if settings.redis_url is None else "redis",
            "renderer": RENDERER_VERSION,
            "render_workers": pool.workers,
        },
    )
    await serve_until_signalled(running)


def main() -> int:
    settings = load_or_exit("image_service", ImageSettings.from_env)
    # Workers start before any gRPC object exists: gRPC state must never cross a fork.
    pool = RenderPool(settings.render_workers)
    pool.start()
    tracing.start("image_service")  # after the fork: the exporter's thread stays in this process
    try:
        uvloop.run(_main(settings, pool))
    except OSError as error:
        print(f"image_service: cannot start: {error}", file=sys.stderr)
        return 1
    finally:
        tracing.stop()
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
