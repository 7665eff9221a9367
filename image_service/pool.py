"""Worker processes for rendering, so CPU-bound encoding never blocks the event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from image_service import render
from image_service.errors import ImageServiceError

_CHUNK = 32


def _render_chunk(texts: Sequence[str], options: render.RenderOptions) -> list[bytes | None]:
    """Runs in a worker: one bad text fails alone, not its whole chunk."""
    images: list[bytes | None] = []
    for text in texts:
        try:
            images.append(render.render(text, options))
        except ImageServiceError:
            images.append(None)
    return images


def _ready() -> str:
    return render.RENDERER_VERSION


class RenderPool:
    """`workers` > 0: that many processes (forkserver: no gRPC state is ever forked).
    `workers` == 0: one thread in this process (for small deployments and debugging)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: Executor
        if workers > 0:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["image_service.render"])
            self._executor = ProcessPoolExecutor(workers, mp_context=context)
        else:
            self._executor = ThreadPoolExecutor(1, "render")

    def start(self) -> None:
        """Start every worker now, before any gRPC object exists and before the first request."""
        futures = [self._executor.submit(_ready) for _ in range(max(self.workers, 1))]
        for future in futures:
            future.result(timeout=60)

    async def render(self, text: str, options: render.RenderOptions) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, render.render, text, options)

    async def render_many(
        self, texts: Sequence[str], options: render.RenderOptions
    ) -> list[bytes | None]:
        """Render a batch across all workers; None where a text could not be rendered."""
        loop = asyncio.get_running_loop()
        chunks = [texts[i : i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
        results = await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, _render_chunk, chunk, options)
                for chunk in chunks
            )
        )
        return [image for chunk in results for image in chunk]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
