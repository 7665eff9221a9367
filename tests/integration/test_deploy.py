"""deploy/: Prometheus config and alert rules through promtool, Kubernetes manifests validated."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def _promtool(*args: str, cwd: Path = DEPLOY / "prometheus") -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is not installed (make test installs prometheus)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def test_prometheus_config_is_valid() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_valid_and_each_has_a_test() -> None:
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for g in yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
              for r in g["rules"]}  # fmt: skip
    cases = yaml.safe_load((DEPLOY / "prometheus/alerts_test.yml").read_text())["tests"]
    covered = {
        t["alertname"] for case in cases for t in case.get("alert_rule_test", []) if t["exp_alerts"]
    }
    assert alerts == covered
    assert len(alerts) == 9


def test_core_kinds_validate_strictly() -> None:
    docs = [(name, doc) for name, doc in _documents() if doc["kind"] not in CRD_KINDS]
    assert {doc["kind"] for _, doc in docs} >= {
        "Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "CronJob", "Job",
    }  # fmt: skip
    for _name, doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)  # raises on any error
    deployments = [doc for _, doc in docs if doc["kind"] == "Deployment"]
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"] and container["livenessProbe"]
        assert container["resources"]["requests"]


def test_the_validator_does_reject_a_broken_manifest() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"replicas": "two", "selector": {}, "template": {}}}  # fmt: skip
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def test_grpc_services_are_headless_and_targets_use_dns() -> None:
    docs = dict(
        (doc["metadata"]["name"], doc) for _, doc in _documents() if doc["kind"] == "Service"
    )
    assert docs["qrpass-token"]["spec"]["clusterIP"] == "None"
    assert docs["qrpass-image"]["spec"]["clusterIP"] == "None"
    config = next(doc for _, doc in _documents() if doc["kind"] == "ConfigMap")["data"]
    assert config["TOKEN_SERVICE_ADDR"].startswith("dns:///")
    assert config["IMAGE_SERVICE_ADDR"].startswith("dns:///")


def test_crd_kinds_are_well_formed_and_rules_match_alerts(tmp_path) -> None:
    crds = {doc["kind"]: doc for _, doc in _documents() if doc["kind"] in CRD_KINDS}
    monitor = crds["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"]
    assert all("port" in endpoint for endpoint in monitor["spec"]["endpoints"])

    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen", ROOT / "scripts/generate-prometheusrule.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (K8S / "prometheusrule.yaml").read_text() == module.render(), (
        "run scripts/generate-prometheusrule.py"
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": crds["PrometheusRule"]["spec"]["groups"]}))
    checked = _promtool("check", "rules", str(rules), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_compose_runs_the_full_stack_and_dashboard_is_valid() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) >= {"token", "image", "gateway", "redis", "postgres",
                                        "prometheus", "pushgateway", "grafana"}  # fmt: skip
    dockerfile = (DEPLOY / "docker/Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "-slim" in dockerfile
    dashboard = json.loads((DEPLOY / "grafana/qrpass-dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("request rate", "p50", "hit ratio", "renders", "warm", "redis", "verify"):
        assert topic in titles
    assert all(t["expr"] for p in dashboard["panels"] for t in p["targets"])
