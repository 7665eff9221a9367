"""Runs autocannon (npm, in .tools/bench-node) against a server: the closed-loop figures."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / ".tools" / "bench-node"
LOAD_SCRIPT = ROOT / "bench" / "node" / "load.js"


@dataclass(frozen=True)
class Closed:
    """What autocannon reports: requests answered 2xx, over seconds, latency in ms."""

    total: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int

    @property
    def rate(self) -> float:
        return (self.total - self.non2xx) / self.seconds if self.seconds else 0.0


def node_env() -> dict[str, str]:
    return {**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")}


def run(
    url: str, requests: list[dict], seconds: float, connections: int = 64,
    headers: dict[str, str] | None = None, amount: int | None = None,
) -> Closed:  # fmt: skip
    """`connections` keep-alive connections send back to back for `seconds`, taking `requests`
    ({"path", "method"?, "body"?}) in turn; with `amount`, exactly that many requests."""
    config = {"url": url, "connections": connections, "duration": seconds,
              "headers": headers or {}, "requests": requests, "amount": amount}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(config, handle)
        handle.flush()
        result = subprocess.run(
            ["node", str(LOAD_SCRIPT), handle.name], env=node_env(), capture_output=True,
            text=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"autocannon failed: {result.stderr[-2000:]}")
    return Closed(**json.loads(result.stdout.strip().splitlines()[-1]))
