"""A rolling restart under a gate morning's load: the fleet of tests/support/fleet.py (two
replicas of each service, two gateways), each of its six processes SIGTERM'd and started again
in turn while passes are opened at a steady rate through both gateways, with verifications,
check-ins and rotations beside them. The same as tests/e2e/test_rolling_restart.py, longer and
at four times the opens."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench import report
from tests.support.fleet import Fleet, GateMorning, acknowledged_scans, ledger_scan_ids, seed

RATES = {"open": 800, "verify": 80, "checkin": 15, "rotate": 1}  # per second, as in issue #23
QUICK_RATES = {"open": 200, "verify": 20, "checkin": 5, "rotate": 1}


def measure(workdir: Path, database_url: str, redis_url: str, *, quick: bool) -> list[dict]:
    # Quick: the shape of the figures only (make test runs it; the test of the same is
    # tests/e2e/test_rolling_restart.py).
    seconds, pause = (10.0, 0.2) if quick else (90.0, 12.0)
    students = 300 if quick else 5_000
    rates = QUICK_RATES if quick else RATES
    with Fleet(workdir, database_url, redis_url) as fleet:
        morning = GateMorning(seed(fleet, students), rates)
        result, restarted = fleet.roll(morning, seconds, pause)
        acknowledged = acknowledged_scans(result)
        ledger = Counter(ledger_scan_ids(fleet.gateways[0].url))
    wrong = sum(((acknowledged - ledger) + (ledger - acknowledged)).values())
    return report.rolling_restart(result, rates, seconds, restarted, wrong, students)
