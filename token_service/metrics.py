"""The token service's domain metrics (qrpass_token_*, qrpass_import_*)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from qrpass.core.prometheus import Declare
from qrpass.vocabulary import BY_NAME, KINDS
from token_service.index import SubjectIndex
from token_service.keys import KeyRing

log = logging.getLogger(__name__)


class TokenMetrics:
    """Counters of issues, verifications by result, and import rows."""

    def __init__(self, registry: CollectorRegistry) -> None:
        declare = Declare(registry)
        self.issues = declare.counter(
            "qrpass_token_issues_total",
            "Tokens handed out, by operation (issue or rotate).",
            ("operation",),
        )
        self.verifications = declare.counter(
            "qrpass_token_verifications_total",
            "Tokens verified, by result (valid or the failure reason).",
            ("result",),
        )
        self.import_rows = declare.counter(
            "qrpass_import_rows_total",
            "Import rows, by result (created, updated, unchanged, rejected).",
            ("kind", "result"),
        )
        self.issue = self.issues.labels("issue")  # resolved once: the hot path
        self.index_sync_failures = declare.counter(
            "qrpass_token_index_sync_failures_total",
            "Polls of the change log that failed (the database was unreachable).",
        )
        self.watchers = declare.gauge(
            "qrpass_token_watchers",
            "Open WatchSubjectChanges streams (gateways keeping a near-cache).",
        )
        self.checkins = declare.counter(
            "qrpass_token_checkins_total",
            "Scans at the gates, by admission (admitted, already_inside, exited, ...).",
            ("admission",),
        )


def read_at_scrape(registry: CollectorRegistry, index: SubjectIndex, keyring: KeyRing) -> None:
    """Gauges of this replica's state, read from the index and the key ring at each scrape."""
    declare = Declare(registry)
    subjects = declare.gauge(
        "qrpass_token_index_subjects",
        "Live subjects held in this replica's in-memory index, by kind.",
        ("kind",),
    )
    for kind in BY_NAME:
        subjects.labels(kind).set_function(functools.partial(index.size, kind))
    declare.gauge(
        "qrpass_token_index_sequence", "The change-log position this replica's index has applied."
    ).set_function(lambda: index.sequence)
    declare.gauge(
        "qrpass_token_active_key_missing",
        "1 while the configured signing key has no usable file (signing fell back or fails).",
    ).set_function(lambda: keyring.missing_active is not None)
    declare.gauge(
        "qrpass_token_key_files_skipped",
        "Key files in the keys directory that could not be loaded and are ignored.",
    ).set_function(lambda: len(keyring.skipped_files))


class InsideCollector(Collector):
    """`qrpass_inside{kind}`: who is inside now, read from the ledger at each scrape.

    Every replica reads the same database, so every replica reports the same figure.
    """

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._counts()
        except SQLAlchemyError:
            log.warning("qrpass_inside not reported: the database is unavailable")
            return
        family = GaugeMetricFamily(
            "qrpass_inside", "Subjects inside now (admitted and not exited), by kind.",
            labels=["kind"],
        )  # fmt: skip
        for kind in KINDS:
            family.add_metric([kind.name], counts.get(kind.name, 0))
        yield family
