"""A rolling restart under a gate morning's load: two replicas of each service and two gateways,
each of the six processes SIGTERM'd and started again in turn while passes are opened,
verified, checked in and rotated through both gateways, as a load balancer would send them.
No request fails, every check-in answered 2xx is in the ledger exactly once, and pass opens keep
a p99 within 50 ms. (`make bench` runs the same at 800 opens/s for 90 s.)"""

from __future__ import annotations

from collections import Counter

from tests.support.fleet import Fleet, GateMorning, acknowledged_scans, ledger_scan_ids, seed

RATES = {"open": 200, "verify": 40, "checkin": 15, "rotate": 1}  # per second
SECONDS = 30
P99_OPEN_SECONDS = 0.050


def test_a_rolling_restart_of_all_six_processes_fails_no_request(
    tmp_path, postgres, redis_server
) -> None:
    with Fleet(tmp_path, postgres.create_database(), redis_server.url) as fleet:
        morning = GateMorning(seed(fleet, 200), RATES)
        result, restarted = fleet.roll(morning, SECONDS, pause=2.0)
        assert len(restarted) == 6, f"only {len(restarted)} of 6 restarted while the load ran"
        assert all(process.alive() for process in fleet.processes)

        failed = {kind: dict(r.error_kinds) for kind, r in result.by_kind.items() if r.errors}
        assert not failed, failed
        assert result.kind("open").count == RATES["open"] * SECONDS
        assert result.kind("open").percentile(99) <= P99_OPEN_SECONDS
        acknowledged = [c for c in result.answered if c.kind == "checkin"]
        assert len(acknowledged) == RATES["checkin"] * SECONDS
        answered = acknowledged_scans(result)
        ledger = Counter(ledger_scan_ids(fleet.gateways[0].url))
        assert ledger == answered and set(ledger.values()) == {1}, "a check-in lost or doubled"
