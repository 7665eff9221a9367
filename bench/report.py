"""Benchmark figures: each with its unit, goal, pass/fail and ratio to the baseline; and renderers."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.autocannon import Closed
from bench.loadgen import LoadResult, MixedResult

FIELDS = ("name", "value", "unit", "goal", "passed", "baseline", "ratio", "note", "group")
SCALE = "scale"  # the group of the population figures, tabled by size in benchmarks.md


def figure(
    name: str, value: float, unit: str, *, goal: str = "", passed: bool | None = None,
    baseline: float | None = None, higher_is_better: bool = True, note: str = "", group: str = "",
) -> dict:  # fmt: skip
    ratio = None
    if baseline and value:
        ratio = round(value / baseline if higher_is_better else baseline / value, 1)
    return {"name": name, "value": round(value, 3), "unit": unit, "goal": goal, "passed": passed,
            "baseline": None if baseline is None else round(baseline, 3), "ratio": ratio, "note": note, "group": group}  # fmt: skip


def _kinds(result: LoadResult) -> str:
    """What the errors were, e.g. "HTTP 504 ×3"; empty when there were none."""
    return ", ".join(f"{kind} ×{n}" for kind, n in result.error_kinds.most_common()) or "none"


def _ms(seconds: float) -> float:
    return seconds * 1000


def _pct(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cold_render(
    grpc_cold: list[float], zxing: list[float], pure: list[float], original_ms: float
) -> list[dict]:
    median = _ms(statistics.median(grpc_cold))
    return [
        figure("cold render via RenderQrCode, median", median, "ms", goal="<= 3 ms",
               passed=median <= 3, baseline=original_ms, higher_is_better=False,
               note="baseline: the original's qrcode.toDataURL at 400 px, via its process"),
        figure("cold render via RenderQrCode, p99", _ms(_pct(grpc_cold, 99)), "ms"),
        figure("encode+PNG in-process, zxing-cpp, median", _ms(statistics.median(zxing)), "ms"),
        figure("encode+PNG in-process, qrcode (fallback), median", _ms(statistics.median(pure)), "ms"),
    ]  # fmt: skip


def warm(subjects: int, seconds: float, rate: float, skip_seconds: float, skip_rate: float,
         baseline_rate: float, bytes_per_pass: float, import_seconds: float) -> list[dict]:  # fmt: skip
    return [
        figure(f"warm {subjects} subjects from empty", rate, "QR/s", goal=">= 1000 QR/s",
               passed=rate >= 1000, baseline=baseline_rate,
               note="baseline: the original's renders, one at a time, as it warmed"),
        figure(f"warm {subjects} subjects, total", seconds, "s",
               goal="25,000 in <= 30 s" if subjects >= 25_000 else "",
               passed=(seconds * 25_000 / subjects) <= 30 if subjects >= 25_000 else None),
        figure("warm again on a full cache (skip path)", skip_rate, "QR/s", note=f"{skip_seconds:.1f} s"),
        figure("Redis memory per cached pass", bytes_per_pass / 1024, "KiB", goal="<= 2.5 KB",
               passed=bytes_per_pass <= 2560, note="used_memory after - before warm, / subjects"),
        figure(f"import {subjects - 200} students (CSV, PostgreSQL)", import_seconds, "s"),
    ]  # fmt: skip


def scale(*, import_seconds: float, warm_seconds: float, rss_mb: dict[str, float],
          redis_bytes: float, held: dict[str, float], hit_ratio: float, first_rate: float
          ) -> list[dict]:  # fmt: skip
    """The population figures, one set a size (`BENCH_SUBJECTS`); benchmarks.md tables them."""
    return [
        figure("import the students (CSV)", import_seconds, "s", group=SCALE),
        figure("warm every pass", warm_seconds, "s", group=SCALE),
        figure("Redis memory of the warmed passes", redis_bytes / 2**20, "MB", group=SCALE),
        figure("token-service RSS after the warm", rss_mb["token_service"], "MB", group=SCALE),
        figure("image-service RSS after the warm", rss_mb["image_service"], "MB", group=SCALE,
               note="the serving process; its render workers are apart"),
        figure("passes the gateway holds (default 256 MB near-cache)", held["entries"], "passes",
               group=SCALE, note=f"{held['tokens']:.0f} current tokens known"),
        figure("gateway RSS, filled", rss_mb["gateway"], "MB", group=SCALE),
        figure("near-cache hits, every student opening once", hit_ratio * 100, "%", group=SCALE),
        figure("first opens, closed loop", first_rate, "req/s", group=SCALE,
               note="every student once, 64 connections"),
    ]  # fmt: skip


def closed_loop(ours: Closed, ours_cpu: float, ours_split: str, png: Closed, png_cpu: float,
                theirs: Closed, theirs_cpu: float, theirs_split: str) -> list[dict]:  # fmt: skip
    ratio = ours.rate / theirs.rate if theirs.rate else 0.0
    return [
        figure("cached pass JSON, closed loop (autocannon, 64 conn)", ours.rate, "req/s",
               goal=">= 5x the original", passed=ratio >= 5, baseline=theirs.rate,
               note=f"each request a different subject; p99 {ours.p99_ms} ms (original "
                    f"{theirs.p99_ms} ms); errors {ours.errors + ours.non2xx}, original "
                    f"{theirs.errors + theirs.non2xx}"),
        figure("server CPU per cached pass (all processes)", ours_cpu, "ms", goal="<= 1/5 of the original",
               passed=ours_cpu * 5 <= theirs_cpu, baseline=theirs_cpu, higher_is_better=False,
               note=f"qrpass: {ours_split}; original: {theirs_split} (ms per request)"),
        figure("cached pass PNG, closed loop (autocannon, 64 conn)", png.rate, "req/s",
               baseline=theirs.rate, note=f"server CPU {png_cpu:.3f} ms per request"),
    ]  # fmt: skip


def gateway_extras(logged: Closed, logged_cpu: float, gzipped: Closed, gzip_cpu: float,
                   silent: Closed, silent_cpu: float, plain_bytes: int, gzip_bytes: int
                   ) -> list[dict]:  # fmt: skip
    """What the access log and gzip cost a cached pass, as gateway CPU per request."""
    return [
        figure("cached pass JSON, gzip (near-cache holds it compressed)", gzipped.rate, "req/s",
               baseline=logged.rate,
               note=f"gateway CPU {gzip_cpu:.3f} ms per request, {logged_cpu:.3f} plain; body "
                    f"{gzip_bytes} B, {plain_bytes} B plain ({1 - gzip_bytes / plain_bytes:.0%} "
                    "smaller)"),
        figure("gateway CPU per cached pass, access log on", logged_cpu, "ms",
               baseline=silent_cpu, higher_is_better=False,
               note=f"{silent_cpu:.3f} ms with QRPASS_ACCESS_LOG=off on a second gateway "
                    f"({silent.rate:.0f} req/s, {logged.rate:.0f} with the log)"),
    ]  # fmt: skip


def traces(off: Closed, off_cpu: float, on: Closed, on_cpu: float, spans: int) -> list[dict]:
    """What exporting traces costs a cached pass, with the default sampler (10 % of roots)."""
    return [
        figure("gateway CPU per cached pass, traces on (10 % sampled)", on_cpu, "ms",
               goal="<= 1.1x traces off", passed=on_cpu <= 1.1 * off_cpu, baseline=off_cpu,
               higher_is_better=False,
               note=f"{off_cpu:.3f} ms with traces off; {on.rate:.0f} req/s on, {off.rate:.0f} "
                    f"off; {spans} spans exported to the OTLP receiver"),
    ]  # fmt: skip


def open_loop(at_1000: LoadResult, at_5000: LoadResult, theirs: LoadResult) -> list[dict]:
    p99, p99_5000 = _ms(at_1000.percentile(99)), _ms(at_5000.percentile(99))
    theirs_p99 = _ms(theirs.percentile(99)) if theirs.latencies else None
    cpu = at_5000.client_cpu_seconds / at_5000.seconds
    return [
        figure("cached pass @1000 req/s, p50", _ms(at_1000.percentile(50)), "ms"),
        figure("cached pass @1000 req/s, p99", p99, "ms", goal="<= 5 ms", passed=p99 <= 5,
               baseline=theirs_p99, higher_is_better=False,
               note=f"latency from each request's intended send time; original errors {theirs.errors}"),
        figure("cached pass @1000 req/s, errors", at_1000.errors, "requests", goal="0",
               passed=at_1000.errors == 0, note=f"kinds: {_kinds(at_1000)}"),
        figure("cached pass @5000 req/s, p99", p99_5000, "ms", goal="<= 20 ms",
               passed=p99_5000 <= 20, note=f"load generator CPU {cpu:.0%} of a core"),
        figure("cached pass @5000 req/s, errors", at_5000.errors, "requests", goal="0",
               passed=at_5000.errors == 0, note=f"kinds: {_kinds(at_5000)}"),
    ]  # fmt: skip


def crowd(result: LoadResult, connections: int) -> list[dict]:
    return [
        figure(f"{connections} simultaneous connections, errors", result.errors, "requests",
               goal="0", passed=result.errors == 0, note=f"kinds: {_kinds(result)}"),
        figure(f"{connections} simultaneous connections, p99", _ms(result.percentile(99)), "ms"),
    ]  # fmt: skip


def verify(grpc_rate: LoadResult, http: Closed, steady: LoadResult) -> list[dict]:
    p99 = _ms(steady.percentile(99))
    return [
        figure("verify via gRPC (32 concurrent)", grpc_rate.rate, "verifications/s",
               goal=">= 3000/s", passed=grpc_rate.rate >= 3000),
        figure("verify via HTTP (autocannon, 32 conn)", http.rate, "verifications/s",
               goal=">= 2000/s", passed=http.rate >= 2000),
        figure("verify via HTTP @500/s, p99", p99, "ms", goal="<= 5 ms", passed=p99 <= 5,
               note=f"errors {steady.errors}"),
    ]  # fmt: skip


def check_in(http: Closed, steady: LoadResult) -> list[dict]:
    p99 = _ms(steady.percentile(99))
    return [
        figure("check-in via HTTP (autocannon, 32 conn)", http.rate, "scans/s",
               goal=">= 500/s", passed=http.rate >= 500,
               note="verify + a PostgreSQL transaction (presence row locked, scan written)"),
        figure("check-in via HTTP @500/s, p99", p99, "ms", goal="<= 50 ms", passed=p99 <= 50,
               note=f"a distinct pass and scan_id a call; errors {steady.errors}"),
    ]  # fmt: skip


def rolling_restart(
    result: MixedResult,
    rates: dict[str, int],
    seconds: float,
    restarted: list[float],
    ledger_wrong: int,
    students: int,
) -> list[dict]:
    opens = result.kind("open")
    p99 = _ms(opens.percentile(99))
    mix = ", ".join(f"{rate} {kind}/s" for kind, rate in rates.items())
    kinds = "; ".join(f"{kind}: {_kinds(r)}" for kind, r in result.by_kind.items() if r.errors)
    took = ", ".join(f"{t:.1f}" for t in restarted)
    return [
        figure(f"rolling restart of all six processes, {rates['open']} opens/s: failed requests",
               result.errors, "requests", goal="0, all six restarted",
               passed=result.errors == 0 and len(restarted) == 6,
               note=f"{seconds:.0f} s of {mix} over {students} students through two gateways; "
                    f"{len(restarted)} restarted, back in {took} s; {result.resent} resent to "
                    f"the other gateway after a refused or dropped connection; "
                    f"errors: {kinds or 'none'}"),
        figure(f"rolling restart, pass opens @{rates['open']}/s, p99", p99, "ms",
               goal="<= 50 ms", passed=p99 <= 50,
               note=f"p50 {_ms(opens.percentile(50)):.1f} ms, {opens.count} opens"),
        figure("rolling restart, check-ins lost or doubled in the ledger", ledger_wrong,
               "check-ins", goal="0", passed=ledger_wrong == 0,
               note=f"{result.kind('checkin').count} acknowledged, each with its own scan_id"),
    ]  # fmt: skip


def revocations(list_figures: dict[str, float], subjects: int) -> list[dict]:
    first, plain, packed = (list_figures["first_seconds"], list_figures["first_bytes"],
                            list_figures["gzip_bytes"])  # fmt: skip
    return [
        figure(f"revocation list, {subjects} rotated: build + sign + send", first * 1000, "ms",
               goal="< 1000 ms", passed=first < 1, higher_is_better=False,
               note=f"unchanged since: {list_figures['again_seconds'] * 1000:.0f} ms (kept signed)"),
        figure("revocation list size, gzip (Accept-Encoding)", packed / 1e6, "MB",
               goal="< 1 MB", passed=packed < 1e6, higher_is_better=False,
               note=f"{plain / 1e6:.2f} MB without compression"),
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


def _amount(f: dict) -> str:
    value = f["value"]
    return f"{value:,.0f} {f['unit']}" if value >= 100 else f"{value:.1f} {f['unit']}"


def _scale_section(runs: list[dict]) -> list[str]:
    """The population figures of each run, a column a size."""
    runs = sorted((r for r in runs if any(f.get("group") == SCALE for f in r["figures"])),
                  key=lambda r: r["subjects"])  # fmt: skip
    if not runs:
        return []
    values = [{f["name"]: f for f in r["figures"] if f.get("group") == SCALE} for r in runs]
    lines = [
        "## Scale",
        "",
        "The population figures, by `make bench` (25,000 students) and "
        "`BENCH_SUBJECTS=250000 make bench` (which measures these alone), each with 200 stalls.",
        "",
        "| figure | "
        + " | ".join(f"{r['subjects']:,} subjects ({r['date'][:10]})" for r in runs)
        + " |",
        "|---|" + "---|" * len(runs),
    ]
    for name in values[0]:
        cells = [_amount(v[name]) if name in v else "" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def markdown(results: dict, scale_runs: Sequence[dict] = ()) -> str:
    """benchmarks.md: the full run's table, then the scale table of it and `scale_runs`."""
    machine = results["machine"]
    main = [f for f in results["figures"] if f.get("group") != SCALE]
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
    lines += ["| " + " | ".join(row) + " |" for row in _rows({"figures": main})]
    lines += ["", "Notes:", ""]
    lines += [f"- {f['name']}: {f['note']}" for f in main if f["note"]]
    lines += ["", *_scale_section([results, *scale_runs])]
    analysis = Path(__file__).with_name("analysis.md").read_text()
    return "\n".join(lines) + "\n" + analysis
