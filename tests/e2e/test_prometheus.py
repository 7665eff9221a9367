"""A real Prometheus scrapes all three services and the Pushgateway, with deploy/'s own config
and alert rules, and its HTTP API agrees with the traffic and the warm the test made."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from tests.e2e.conftest import CLIENT_KEY
from tests.support.servers import PrometheusServer
from tests.support.services import run_cli

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def _config(targets: dict[str, str]) -> str:
    """deploy/prometheus/prometheus.yml, with the test's ports and a 1 s interval."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(ROOT / "deploy/prometheus/alerts.yml")]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    assert set(targets) == {job["job_name"] for job in config["scrape_configs"]}
    return yaml.safe_dump(config)


def _query(prometheus: PrometheusServer, expr: str) -> list[dict]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as reply:
        body = json.load(reply)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _scalar(prometheus: PrometheusServer, expr: str) -> float | None:
    result = _query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def _eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "Prometheus never showed the expected value"
        time.sleep(0.5)


def test_prometheus_scrapes_everything_and_sees_what_happened(split, pushgateway) -> None:
    targets = {
        "token_service": f"127.0.0.1:{split.token.metrics_port}",
        "image_service": f"127.0.0.1:{split.image.metrics_port}",
        "gateway": f"127.0.0.1:{split.gateway.port}",
        "pushgateway": f"127.0.0.1:{pushgateway.port}",
    }
    prometheus = PrometheusServer(_config(targets))
    prometheus.start()
    try:
        # Every target is scraped before the traffic, so Prometheus sees the counters rise.
        _eventually(lambda: len([r for r in _query(prometheus, "up") if r["value"][1] == "1"]) == 4)
        assert {r["metric"]["job"] for r in _query(prometheus, "up == 1")} == set(targets)

        # Traffic: 4 students, 5 passes each: 4 misses and 16 hits; 6 verifications.
        for subject in ("S00001", "S00002", "S00003", "S00004"):
            for _ in range(5):
                assert split.http.get(f"/v1/students/{subject}/qr", headers=AUTH).status_code == 200
            if subject == "S00001":  # a scrape between, so rate() sees the counter rise
                time.sleep(2.5)
        for _ in range(6):
            split.http.post("/v1/verify", headers=AUTH, json={"token": "x.y.z"})
        warm_started = time.time()
        warmed = run_cli(["warm", "--quiet", "--pushgateway", pushgateway.url],
                         split.token.env, split.token.workdir)  # fmt: skip
        assert warmed.returncode == 0, warmed.stderr
        warm_ended = time.time()

        passes = 'sum(http_requests_total{job="gateway",route="/v1/{kind}/{id}/qr",status="200"})'
        assert _eventually(lambda: _scalar(prometheus, passes) == 20)
        verifies = 'sum(http_requests_total{job="gateway",route="/v1/verify",status="200"})'
        assert _eventually(lambda: _scalar(prometheus, verifies) == 6)
        rate = "sum(rate(http_requests_total{job='gateway',route='/v1/{kind}/{id}/qr'}[1m]))"
        assert _eventually(lambda: (_scalar(prometheus, rate.replace("'", '"')) or 0) > 0)

        # The 16 repeats are answered by the gateway's near-cache; only the 4 first requests
        # reach the image service.
        ratio = ('sum(qrpass_gateway_cache_lookups_total{job="gateway",result="hit"})'
                 ' / sum(qrpass_gateway_cache_lookups_total{job="gateway"})')  # fmt: skip
        assert _eventually(lambda: _scalar(prometheus, ratio) == 16 / 20)
        images = 'sum(qrpass_image_cache_lookups_total{job="image_service"})'
        assert _eventually(lambda: _scalar(prometheus, images) == 4)
        outcomes = 'sum(qrpass_token_verifications_total{job="token_service",result="malformed"})'
        assert _eventually(lambda: _scalar(prometheus, outcomes) == 6)

        last_success = 'qrpass_warm_last_success_timestamp_seconds{job="qrpass_warm"}'
        success = _eventually(lambda: (_scalar(prometheus, last_success) or 0) >= warm_started - 1
                              and _scalar(prometheus, last_success))  # fmt: skip
        assert warm_started - 1 <= success <= warm_ended + 1
        # 30 students + 5 stalls were seeded; 4 were cached by the passes above.
        assert _scalar(prometheus, 'qrpass_warm_rendered{job="qrpass_warm"}') == 31
        assert _scalar(prometheus, 'qrpass_warm_failed{job="qrpass_warm"}') == 0
        handled = 'sum(grpc_server_handled_total{job="image_service",grpc_method="WarmQrCodes",grpc_code="OK"})'
        assert _eventually(lambda: (_scalar(prometheus, handled) or 0) >= 2)
        rules = json.load(urllib.request.urlopen(f"{prometheus.url}/api/v1/rules", timeout=5))
        alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]
        assert len(rules["data"]["groups"][0]["rules"]) == len(alerts["rules"])  # all loaded
    finally:
        prometheus.cleanup()
