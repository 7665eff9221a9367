"""deploy/: Prometheus config and alert rules through promtool, Kubernetes manifests validated."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "Cluster"}


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
    assert len(alerts) == 12


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
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://")  # traces, from the map


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
                                        "prometheus", "pushgateway", "grafana",
                                        "otel-collector", "jaeger"}  # fmt: skip
    for name in ("token", "image", "gateway"):  # traces go to the collector
        endpoint = compose["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://otel-collector:4318", name
    collector = yaml.safe_load((DEPLOY / "otel/collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert "jaeger:4317" in json.dumps(collector["exporters"])
    dockerfile = (DEPLOY / "docker/Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "-slim" in dockerfile
    dashboard = json.loads((DEPLOY / "grafana/qrpass-dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("request rate", "p50", "hit ratio", "renders", "warm", "redis", "verify"):
        assert topic in titles
    assert all(t["expr"] for p in dashboard["panels"] for t in p["targets"])


def _pod_specs() -> list[tuple[str, dict]]:
    specs = []
    for _, doc in _documents():
        if doc["kind"] in ("Deployment", "Job"):
            specs.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            specs.append(
                (doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            )
    return specs


def test_pods_are_hardened_and_can_read_their_secrets() -> None:
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
    specs = _pod_specs()
    assert {name for name, _ in specs} == {"qrpass-token", "qrpass-image", "qrpass-gateway",
                                           "qrpass-migrate", "qrpass-warm"}  # fmt: skip
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] >= 10000, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        secrets = [v for v in spec.get("volumes", []) if "secret" in v]
        for volume in secrets:  # group-readable, and the pod runs in that group
            assert volume["secret"]["defaultMode"] == 0o440, (name, volume["name"])
            assert pod["fsGroup"] == pod["runAsGroup"], name
        (container,) = spec["containers"]
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        assert container["image"] == f"qrpass:{version}", name


def test_each_service_gets_only_its_own_secrets_and_identity() -> None:
    specs = dict(_pod_specs())

    def secret_refs(name: str) -> set[str]:
        (container,) = specs[name]["containers"]
        refs = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
        refs |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", [])
                 if "secretKeyRef" in e.get("valueFrom", {})}  # fmt: skip
        return refs | {
            v["secret"]["secretName"] for v in specs[name].get("volumes", []) if "secret" in v
        }

    assert secret_refs("qrpass-image") == {"qrpass-redis", "qrpass-tls-image"}  # no DATABASE_URL
    assert secret_refs("qrpass-token") == {
        "qrpass-db-app",
        "qrpass-signing-keys",
        "qrpass-tls-token",
    }
    assert secret_refs("qrpass-gateway") == {"qrpass-api-keys", "qrpass-tls-gateway"}
    assert secret_refs("qrpass-warm") == {"qrpass-tls-warm"}
    assert secret_refs("qrpass-migrate") == {"qrpass-db-app"}


def test_postgres_is_a_synchronous_cloudnativepg_cluster_the_token_service_uses() -> None:
    (cluster,) = [doc for _, doc in _documents() if doc["kind"] == "Cluster"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    # A primary and two standbys, one of which confirms every commit: a failover loses nothing.
    assert spec["instances"] >= 3
    assert spec["postgresql"]["synchronous"]["number"] >= 1
    assert spec["postgresql"]["synchronous"]["dataDurability"] == "required"
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert not spec["imageName"].endswith(":latest")
    app_secret = {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}  # the operator's
    for name in ("qrpass-token", "qrpass-migrate"):
        (container,) = dict(_pod_specs())[name]["containers"]
        (url,) = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
        assert url["valueFrom"]["secretKeyRef"] == app_secret, name
    policies = {doc["metadata"]["name"]: doc["spec"] for _, doc in _documents()
                if doc["kind"] == "NetworkPolicy"}  # fmt: skip
    database = policies["qrpass-db"]
    assert database["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "qrpass-db"}}
    (clients,) = [rule["from"] for rule in database["ingress"] if rule["ports"][0]["port"] == 5432]
    assert {next(iter(peer["podSelector"]["matchLabels"].values())) for peer in clients} == {
        "qrpass-token", "qrpass-migrate", "qrpass-db"}  # fmt: skip


def test_network_policies_let_only_the_gateway_and_warm_job_reach_grpc() -> None:
    policies = {
        doc["metadata"]["name"]: doc["spec"]
        for _, doc in _documents()
        if doc["kind"] == "NetworkPolicy"
    }
    assert policies["qrpass-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for service, grpc_port, metrics_port in (
        ("qrpass-token", 50051, 9101),
        ("qrpass-image", 50052, 9102),
    ):
        rules = {rule["ports"][0]["port"]: rule["from"] for rule in policies[service]["ingress"]}
        assert set(rules) == {grpc_port, metrics_port}
        callers = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for peer in rules[grpc_port]
        }
        assert callers == {"qrpass-gateway", "qrpass-warm"}
        assert rules[metrics_port] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]


def test_checkov_passes_over_deploy_with_every_skip_explained() -> None:
    binary = ROOT / ".tools/checkov/bin/checkov"
    assert binary.exists(), "checkov is not installed (make test runs scripts/install-checkov.sh)"
    result = subprocess.run(
        [str(binary), "-d", str(DEPLOY), "--framework", "kubernetes", "dockerfile", "--compact",
         "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    reports = json.loads(result.stdout)
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    for report in reports:
        assert report["summary"]["failed"] == 0, [
            c["check_id"] + " " + c["resource"] for c in report["results"]["failed_checks"]
        ]
        assert report["summary"]["passed"] > 40
        for skipped in report["results"]["skipped_checks"]:
            assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped[
                "check_id"
            ]
    assert result.returncode == 0


def test_compose_has_no_default_credentials_and_binds_dashboards_to_loopback() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert "trust" not in json.dumps(services["postgres"])
    assert "POSTGRES_PASSWORD" in services["postgres"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in services["grafana"]["environment"]
    for name in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert "latest" not in (DEPLOY / "compose.yaml").read_text()
