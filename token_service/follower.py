"""Keeps this replica's subject index current: polls the change log, watches the signing keys."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from sqlalchemy.exc import SQLAlchemyError

from token_service.index import SubjectIndex
from token_service.keys import KeyRing
from token_service.metrics import TokenMetrics

log = logging.getLogger(__name__)

# Other replicas' writes reach this one within this interval (the bound the design promises is
# 1 s); each poll is one indexed query that usually returns nothing.
POLL_SECONDS = 0.25


async def follow_changes(
    index: SubjectIndex,
    keyring: KeyRing,
    metrics: TokenMetrics,
    executor: Executor,
    interval: float = POLL_SECONDS,
) -> None:
    """Run until cancelled. A database outage is logged once and served from memory."""
    loop = asyncio.get_running_loop()
    kids = keyring.kids()
    failing = False
    while True:
        await asyncio.sleep(interval)
        try:
            await loop.run_in_executor(executor, index.sync)
        except SQLAlchemyError as error:
            metrics.index_sync_failures.inc()
            if not failing:  # the class only: driver messages quote SQL and parameters
                log.warning("change log unreachable, serving from memory: %s", type(error).__name__)
            failing = True
            continue
        if failing:
            log.info("change log reachable again", extra={"sequence": index.sequence})
            failing = False
        current = keyring.kids()
        if current != kids:  # tokens signed by a removed key must leave every cache
            kids = current
            index.notify_reset()
