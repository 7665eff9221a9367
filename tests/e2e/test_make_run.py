"""`make run` as a newcomer meets it: every command it calls exists, and `qrpass up --seed-demo`
seeds, prints development keys and a curl line that works, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import base64
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.qr import decode_png
from tests.support.services import stack_env

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_make_run_calls_exists() -> None:
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert plan.returncode == 0, plan.stderr
    calls = [line.split("qrpass.cli.main", 1)[1].split() for line in plan.stdout.splitlines()
             if "qrpass.cli.main" in line]  # fmt: skip
    assert calls and calls[-1][0] == "up"
    for args in calls:
        helped = subprocess.run([sys.executable, "-m", "qrpass.cli.main", *args, "--help"],
                                capture_output=True, text=True, timeout=30)  # fmt: skip
        assert helped.returncode == 0, (args, helped.stderr)


def test_up_with_demo_seed_prints_a_working_curl_line(tmp_path) -> None:
    env = stack_env(tmp_path, f"sqlite:///{tmp_path}/data/qrpass.db", "")
    for name in ("QRPASS_API_KEYS", "QRPASS_ADMIN_API_KEYS", "REDIS_URL"):
        del env[name]  # the embedded default: development keys, the in-process cache
    log = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "qrpass.cli.main", "up", "--seed-demo"], env=env,
                          cwd=tmp_path, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops all three" not in log.read_text():
            assert up.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        text = log.read_text()
        assert "seeded 50 demo students" in text and "seeded 10 demo stalls" in text
        client_key = (tmp_path / "data" / "client_api_key").read_text().strip()
        assert f"development client key: {client_key}" in text
        curl = next(
            line.strip() for line in text.splitlines() if line.strip().startswith("curl -s -H")
        )
        words = shlex.split(curl)
        header, url = words[words.index("-H") + 1], words[-1]
        name, _, value = header.partition(": ")
        reply = httpx.get(url, headers={name: value}, timeout=10)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert decode_png(base64.b64decode(body["qr_image"].split(",", 1)[1])) == body["qr_token"]
        assert re.search(r"/v1/verify", text)
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0
