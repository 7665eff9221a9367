"""Benchmark figures: each with its unit, goal, pass/fail and ratio to the baseline; and renderers."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.loadgen import LoadResult

FIELDS = ("name", "value", "unit", "goal", "passed", "baseline", "ratio", "note")


def figure(
    name: str, value: float, unit: str, *, goal: str = "", passed: bool | None = None,
    baseline: float | None = None, higher_is_better: bool = True, note: str = "",
) -> dict:  # fmt: skip
    ratio = None
    if baseline and value:
        ratio = round(value / baseline if higher_is_better else baseline / value, 1)
    return {"name": name, "value": round(value, 3), "unit": unit, "goal": goal, "passed": passed,
            "baseline": None if baseline is None else round(baseline, 3), "ratio": ratio, "note": note}  # fmt: skip


def _kinds(result: LoadResult) -> str:
    """What the errors were, e.g. "HTTP 504 ×3"; empty when there were none."""
    return ", ".join(f"{kind} ×{n}" for kind, n in result.error_kinds.most_common()) or "none"


def _ms(seconds: float) -> float:
    return seconds * 1000


def _pct(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cold_render(
    grpc_cold: list[float], zxing: list[float], pure: list[float], naive: list[float]
) -> list[dict]:
    median = _ms(statistics.median(grpc_cold))
    naive_median = _ms(statistics.median(naive))
    return [
        figure("cold render via RenderQrCode, median", median, "ms", goal="<= 3 ms",
               passed=median <= 3, baseline=naive_median, higher_is_better=False),
        figure("cold render via RenderQrCode, p99", _ms(_pct(grpc_cold, 99)), "ms"),
        figure("encode+PNG in-process, zxing-cpp, median", _ms(statistics.median(zxing)), "ms"),
        figure("encode+PNG in-process, qrcode (fallback), median", _ms(statistics.median(pure)), "ms"),
    ]  # fmt: skip


def warm(subjects: int, seconds: float, rate: float, skip_seconds: float, skip_rate: float,
         baseline_rate: float, bytes_per_pass: float, import_seconds: float) -> list[dict]:  # fmt: skip
    return [
        figure(f"warm {subjects} subjects from empty", rate, "QR/s", goal=">= 1000 QR/s",
               passed=rate >= 1000, baseline=baseline_rate,
               note="baseline: one qrcode render at a time, as the original warmed"),
        figure(f"warm {subjects} subjects, total", seconds, "s",
               goal="25,000 in <= 30 s" if subjects >= 25_000 else "",
               passed=(seconds * 25_000 / subjects) <= 30 if subjects >= 25_000 else None),
        figure("warm again on a full cache (skip path)", skip_rate, "QR/s", note=f"{skip_seconds:.1f} s"),
        figure("Redis memory per cached pass", bytes_per_pass / 1024, "KiB", goal="<= 2.5 KB",
               passed=bytes_per_pass <= 2560, note="used_memory after - before warm, / subjects"),
        figure(f"import {subjects - 200} students (CSV, PostgreSQL)", import_seconds, "s"),
    ]  # fmt: skip


def load(steady: LoadResult, http_max: LoadResult, grpc_max: LoadResult, crowd: LoadResult,
         verify_grpc: LoadResult, verify_http: LoadResult, b_steady: LoadResult,
         b_max: LoadResult, b_crowd: LoadResult, connections: int,
         baseline_connections: int) -> list[dict]:  # fmt: skip
    p99 = _ms(steady.percentile(99))
    b_p99 = _ms(b_steady.percentile(99)) if b_steady.latencies else None
    cpu = f"load generator CPU {steady.client_cpu_seconds / steady.seconds:.0%} of a core"
    return [
        figure("cached pass via gateway @1000 req/s, p50", _ms(steady.percentile(50)), "ms"),
        figure("cached pass via gateway @1000 req/s, p90", _ms(steady.percentile(90)), "ms"),
        figure("cached pass via gateway @1000 req/s, p99", p99, "ms", goal="<= 5 ms",
               passed=p99 <= 5, baseline=b_p99, higher_is_better=False,
               note=f"{cpu}; baseline errors {b_steady.errors} of {int(b_steady.count + b_steady.errors)}"),
        figure("cached pass via gateway @1000 req/s, max", _ms(max(steady.latencies)), "ms"),
        figure("cached pass via gateway @1000 req/s, errors", steady.errors, "requests", goal="0",
               passed=steady.errors == 0, note=f"kinds: {_kinds(steady)}"),
        figure("max cached throughput via gateway", http_max.rate, "req/s", goal=">= 2000 req/s",
               passed=http_max.rate >= 2000, baseline=b_max.rate,
               note=f"64 connections; load generator CPU {http_max.client_cpu_seconds / http_max.seconds:.0%} of a core"),
        figure("max cached throughput via gRPC RenderQrCode", grpc_max.rate, "req/s",
               note="64 concurrent calls from one Python client"),
        figure(f"{connections} simultaneous connections, errors", crowd.errors, "requests",
               goal="0", passed=crowd.errors == 0,
               note=f"kinds: {_kinds(crowd)}; baseline: {b_crowd.errors} errors of {baseline_connections} in {b_crowd.seconds:.0f} s"),
        figure(f"{connections} simultaneous connections, p99", _ms(crowd.percentile(99)), "ms"),
        figure("verify via gRPC", verify_grpc.rate, "verifications/s"),
        figure("verify via HTTP gateway", verify_http.rate, "verifications/s"),
    ]  # fmt: skip


def document(figures: list[dict], *, quick: bool, subjects: int) -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": quick,
        "subjects": subjects,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "processor": _cpu_model()},
        "figures": figures,
    }  # fmt: skip


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "MISS", None: ""}[passed]


def _rows(results: dict) -> list[tuple[str, ...]]:
    rows = []
    for f in results["figures"]:
        baseline = "" if f["baseline"] is None else f"{f['baseline']:g}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:g}x"
        rows.append((f["name"], f"{f['value']:g} {f['unit']}", f["goal"], _verdict(f["passed"]),
                     baseline, ratio))  # fmt: skip
    return rows


def table(results: dict) -> str:
    header = ("figure", "qrpass", "goal", "", "baseline", "ours/baseline")
    rows = [header, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {results['date']}: {machine['cpus']} cores "
        f"({machine['processor']}), {machine['platform']}, Python {machine['python']}. "
        f"{results['subjects']} subjects. Everything (PostgreSQL, Redis, the three services, the "
        "load generator and the baseline) shares the same machine.",
        "",
        "| figure | qrpass | goal | | baseline | ours/baseline |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    lines += ["", "Notes:", ""]
    lines += [f"- {f['name']}: {f['note']}" for f in results["figures"] if f["note"]]
    analysis = Path(__file__).with_name("analysis.md").read_text()
    return "\n".join(lines) + "\n\n" + analysis
