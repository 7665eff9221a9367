"""`BENCH_QUICK=1 python -m bench` runs end to end and writes a complete, well-formed results
file. The speeds are the benchmark's business (docs/benchmarks.md), not this test's."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = (
    "cold render via RenderQrCode, median", "warm", "Redis memory per cached pass",
    "cached pass JSON, closed loop", "server CPU per cached pass", "cached pass PNG, closed loop",
    "cached pass @1000 req/s, p99", "cached pass @5000 req/s, p99",
    "simultaneous connections, errors", "verify via gRPC", "verify via HTTP (autocannon",
    "verify via HTTP @500/s, p99", "sign (RotateToken) via gRPC", "cached pass JSON, gzip",
    "gateway CPU per cached pass, access log on", "gateway CPU per cached pass, traces on",
    "near-cache filled after the warm ended", "near-cache bytes counted per pass", "gateway RSS",
    "first open after the warm, closed loop", "server CPU per first open",
    "a gateway that starts holds every pass after", "while another gateway fills, p99",
    "first open @1000 req/s, p99", "first open @5000 req/s, p99",
    "simultaneous first opens, qrpass", "simultaneous first opens, the original",
    "near-cache miss (pass beyond the budget)",
    "rolling restart of all six processes", "rolling restart, pass opens",
    "rolling restart, check-ins lost or doubled",
)  # fmt: skip
# The population figures, tabled by size in benchmarks.md (BENCH_SUBJECTS measures others).
SCALE = (
    "import the students", "warm every pass", "Redis memory of the warmed passes",
    "token-service RSS", "image-service RSS", "passes the gateway holds", "gateway RSS, filled",
    "near-cache hits, every student opening once", "first opens, closed loop",
)  # fmt: skip
# Compared with the original's design, which must really have run beside qrpass.
AGAINST_THE_ORIGINAL = (
    "cached pass JSON, closed loop", "server CPU per cached pass",
    "first open after the warm, closed loop", "server CPU per first open", "near-cache miss",
)  # fmt: skip


def test_quick_bench_writes_complete_results(tmp_path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "BENCH_QUICK": "1", "BENCH_RESULTS": str(out)}
    run = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["quick"] is True and results["subjects"] == 2200
    assert results["date"] and results["machine"]["cpus"] >= 1
    names = [f["name"] for f in results["figures"]]
    for expected in EXPECTED:
        assert any(expected in name for name in names), expected
    for figure in results["figures"]:
        assert set(figure) == {
            "name",
            "value",
            "unit",
            "goal",
            "passed",
            "baseline",
            "ratio",
            "note",
            "group",
        }
        assert isinstance(figure["value"], int | float) and math.isfinite(figure["value"]), figure
        assert figure["unit"]
        assert (figure["passed"] is None) == (figure["goal"] == ""), figure
    scale = {f["name"]: f["value"] for f in results["figures"] if f["group"] == "scale"}
    assert len(scale) == len(SCALE), scale
    assert all(any(name.startswith(e) for name in scale) for e in SCALE), scale
    assert scale["passes the gateway holds (default 256 MB near-cache)"] == 2200
    assert scale["near-cache hits, every student opening once"] == 100  # every pass was held
    for expected in AGAINST_THE_ORIGINAL:
        figure = next(f for f in results["figures"] if expected in f["name"])
        assert figure["baseline"] and figure["baseline"] > 0 and figure["ratio"], figure
    goals = [f for f in results["figures"] if f["goal"]]
    assert len(goals) >= 7
    assert "ours/baseline" in run.stdout  # the table was printed
