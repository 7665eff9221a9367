"""Check-in at the gate: verify the pass as VerifyToken does, then record the scan and decide."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from qrpass.vocabulary import GATE_PATTERN, GATE_RULE, SCAN_ID_PATTERN, SCAN_ID_RULE
from token_service.admission import Admission, Entry, decide
from token_service.errors import InvalidRequest
from token_service.ledger import ScanFilter, ScanInput, ScanLedger, ScanRecord
from token_service.paging import decode_page_token, encode_page_token, page_size
from token_service.passes import PassBook, Verdict
from token_service.tokens import Failure

_ROW_ID = re.compile(r"[0-9]{1,18}")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Scan:
    """One scan as a gate reports it."""

    token: str
    gate: str
    direction: str = "in"
    scan_id: str | None = None
    scanned_at_ms: int | None = None  # None: now


@dataclass(frozen=True)
class CheckInResult:
    """The verdict on the pass and what the gate does with it."""

    verdict: Verdict
    admission: Admission
    entered: Entry | None
    scan_id: str | None
    scanned_at_ms: int
    replayed: bool


@dataclass(frozen=True)
class ScanPage:
    scans: list[ScanRecord]
    next_page_token: str


def check_scan(scan: Scan, *, batch: bool = False) -> None:
    """Refuse a scan whose fields are malformed, naming the field."""
    if not GATE_PATTERN.fullmatch(scan.gate):
        raise InvalidRequest(
            f"gate must be 1 to 64 characters, no control characters or end spaces ({GATE_RULE})"
        )
    if scan.direction not in ("in", "out"):
        raise InvalidRequest("direction must be in or out")
    if scan.scan_id is not None and not SCAN_ID_PATTERN.fullmatch(scan.scan_id):
        raise InvalidRequest(f"scan_id must match {SCAN_ID_RULE}")
    if batch and (scan.scan_id is None or scan.scanned_at_ms is None):
        raise InvalidRequest("each scan of a batch needs a scan_id and a scanned_at")


class Gate:
    """Check-in and the ledger, over the pass book (verification) and the scan ledger."""

    def __init__(self, book: PassBook, ledger: ScanLedger) -> None:
        self._book = book
        self._ledger = ledger

    def check_in(self, scan: Scan) -> CheckInResult:
        """Verify and record one scan."""
        check_scan(scan)
        verdict = self._book.verify(scan.token)
        scanned_at = scan.scanned_at_ms if scan.scanned_at_ms is not None else now_ms()
        entry = ScanInput(
            gate=scan.gate, direction=scan.direction, scanned_at_ms=scanned_at,
            scan_id=scan.scan_id, kind=verdict.kind or None,
            subject_id=verdict.subject_id or None, version=verdict.version,
            failure=verdict.failure.value if verdict.failure else None,
        )  # fmt: skip
        record, replayed = self._ledger.record(
            entry,
            lambda inside: decide(verdict.valid, scan.direction, inside, scan.gate, scanned_at),
        )
        if replayed:
            return self._replay(record)
        return CheckInResult(
            verdict, record.admission, record.entered, scan.scan_id, scanned_at, False
        )

    def check_in_batch(self, scans: Sequence[Scan]) -> list[CheckInResult]:
        """Apply offline scans in scanned_at order; answers come in the request's order.

        A scan_id given twice is one scan: the later copy gets the first one's answer.
        """
        for scan in scans:
            check_scan(scan, batch=True)
        order = sorted(range(len(scans)), key=lambda i: scans[i].scanned_at_ms or 0)
        results = {i: self.check_in(scans[i]) for i in order}
        return [results[i] for i in range(len(scans))]

    def _replay(self, record: ScanRecord) -> CheckInResult:
        """The answer first given to a scan, from the ledger (identity from the subject now)."""
        subject = None
        if record.kind and record.subject_id:
            subject = self._book.subject(record.kind, record.subject_id)
        failure = Failure(record.failure) if record.failure else None
        verdict = Verdict(
            valid=failure is None, failure=failure, subject=subject, kind=record.kind or "",
            subject_id=record.subject_id or "", version=record.version,
        )  # fmt: skip
        return CheckInResult(
            verdict, record.admission, record.entered, record.scan_id, record.scanned_at_ms, True
        )

    def scans(
        self, where: ScanFilter, requested_size: int, page_token: str, *, inside: bool = False
    ) -> ScanPage:
        size = page_size(requested_size)
        listing_name = "inside" if inside else "scans"
        after = int(decode_page_token(listing_name, page_token, _ROW_ID) or 0)
        listing = self._ledger.inside_page if inside else self._ledger.page
        records = listing(where, after, size + 1)
        more = len(records) > size
        records = records[:size]
        next_token = (
            encode_page_token(listing_name, str(records[-1].id)) if more and records else ""
        )
        return ScanPage(records, next_token)

    def inside_counts(self) -> dict[str, int]:
        return self._ledger.inside_counts()

    def prune(self, before_ms: int) -> int:
        return self._ledger.prune(before_ms)
