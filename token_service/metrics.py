"""The token service's domain metrics (qrpass_token_*, qrpass_import_*)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class TokenMetrics:
    """Counters of issues, verifications by result, and import rows."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.issues = Counter(
            "qrpass_token_issues_total",
            "Tokens handed out, by operation (issue or rotate).",
            ("operation",),
            registry=registry,
        )
        self.verifications = Counter(
            "qrpass_token_verifications_total",
            "Tokens verified, by result (valid or the failure reason).",
            ("result",),
            registry=registry,
        )
        self.import_rows = Counter(
            "qrpass_import_rows_total",
            "Import rows, by result (created, updated, unchanged, rejected).",
            ("kind", "result"),
            registry=registry,
        )
