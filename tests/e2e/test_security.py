"""Security end to end: TLS and mTLS between the services, and no secret in a production run's logs."""

from __future__ import annotations

import subprocess
import sys
import time

import grpc
import httpx
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.token.v1 import token_service_pb2_grpc as pb_grpc
from tests.conftest import students_csv
from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, stack_env
from tests.support.certs import make_pki
from tests.support.servers import RedisServer, free_port, wait_for_port
from tests.support.services import REPO, ServiceProcess, run_cli
from token_service import keyfiles

POLICY = REPO / "deploy/k8s/grpc-authz-policy.json"
IDENTITIES = {
    name: f"spiffe://qrpass/{name}"
    for name in ("gateway", "warm", "token-service", "image-service")
}


def _tls_env(pki, identity: str | None = None) -> dict[str, str]:
    cert, key = pki.identity(identity) if identity else (pki.server_cert, pki.server_key)
    return {
        "QRPASS_TLS_CERT_FILE": str(cert),
        "QRPASS_TLS_KEY_FILE": str(key),
        "QRPASS_TLS_CA_FILE": str(pki.ca),
    }


def _start_tls(module: str, env: dict[str, str], workdir, port: int) -> ServiceProcess:
    """Start a service whose gRPC port speaks only TLS (ServiceProcess.start checks in plaintext)."""
    process = ServiceProcess(module, env, workdir, port)
    process.process = subprocess.Popen([sys.executable, "-m", module], env=process.env, cwd=workdir,
                                       stdout=process.log_path.open("ab"), stderr=subprocess.STDOUT)  # fmt: skip
    wait_for_port(port, process=process.process)
    return process


def _channel(port: int, pki, identity: str | None) -> grpc.Channel:
    ca = pki.ca.read_bytes()
    if identity is None:
        return grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(ca))
    cert, key = pki.identity(identity)
    credentials = grpc.ssl_channel_credentials(ca, key.read_bytes(), cert.read_bytes())
    return grpc.secure_channel(f"localhost:{port}", credentials)


def test_mtls_and_the_shipped_policy_authorize_each_caller_per_method(tmp_path, postgres) -> None:
    """Each service proves who calls it (URI SAN) and the deploy/ policy says what each may do."""
    pki = make_pki(tmp_path / "pki", IDENTITIES)
    env = stack_env(tmp_path, postgres.create_database(), "redis://127.0.0.1:1/0",
                    QRPASS_GRPC_AUTHZ_POLICY_FILE=str(POLICY))  # fmt: skip
    del env["REDIS_URL"]
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    token_port = int(env["TOKEN_LISTEN_ADDR"].rpartition(":")[2])
    image_port = int(env["IMAGE_LISTEN_ADDR"].rpartition(":")[2])
    processes = []
    try:
        processes.append(
            _start_tls("token_service", env | _tls_env(pki, "token-service"), tmp_path, token_port)
        )
        processes.append(
            _start_tls("image_service", env | _tls_env(pki, "image-service"), tmp_path, image_port)
        )
        # The gateway dials both with its own identity and serves a pass end to end.
        gateway = ServiceProcess("gateway", env | _tls_env(pki, "gateway"), tmp_path).start()
        processes.append(gateway)
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=gateway.url, headers=auth, timeout=10) as http:
            imported = http.post("/v1/admin/import/students", content=students_csv(3),
                                 headers={"Content-Type": "text/csv"})  # fmt: skip
            assert imported.status_code == 200, imported.text
            assert http.get("/v1/students/S00001/qr").status_code == 200
            assert http.get("/v1/admin/cache/stats").status_code == 200

        def token_call(identity: str | None, method: str, request) -> object:
            with _channel(token_port, pki, identity) as channel:
                return getattr(pb_grpc.TokenServiceStub(channel), method)(request, timeout=5)

        listing = pb.ListTokensRequest(kind=pb.SUBJECT_KIND_STUDENT)
        importing = pb.ImportSubjectsRequest(kind=pb.SUBJECT_KIND_STUDENT, content=students_csv(1))
        # The warm job may list passes; it may not import, and nor may the image service.
        assert len(token_call("warm", "ListTokens", listing).subject_tokens) == 3
        for identity, method, request in (
            ("warm", "ImportSubjects", importing),
            ("image-service", "ImportSubjects", importing),
            ("image-service", "ListTokens", listing),
            ("gateway", "ListTokens", listing),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                token_call(identity, method, request)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, (identity, method)
            assert IDENTITIES[identity] in refused.value.details()
        with _channel(image_port, pki, "warm") as channel:
            images = image_grpc.ImageServiceStub(channel)
            assert (
                images.WarmQrCodes(image_pb.WarmQrCodesRequest(texts=["w"]), timeout=10).rendered
                == 1
            )
            with pytest.raises(grpc.RpcError) as refused:
                images.ClearCache(image_pb.ClearCacheRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # Health stays open to every caller the transport admits.
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        # Without a certificate from our CA the TLS handshake itself fails.
        stranger = grpc.ssl_channel_credentials(pki.ca.read_bytes(), pki.stranger_key.read_bytes(),
                                                pki.stranger_cert.read_bytes())  # fmt: skip
        for credentials in (None, grpc.ssl_channel_credentials(pki.ca.read_bytes()), stranger):
            target = f"localhost:{token_port}"
            channel = (
                grpc.secure_channel(target, credentials)
                if credentials
                else grpc.insecure_channel(target)
            )
            with channel, pytest.raises(grpc.RpcError) as refused:
                pb_grpc.TokenServiceStub(channel).VerifyToken(
                    pb.VerifyTokenRequest(token="a.b.c"), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        for process in processes:
            process.stop()


def test_a_caller_without_a_certificate_is_unauthenticated(tmp_path) -> None:
    """Server-only TLS and a policy: callers have no identity, so every method but health refuses."""
    pki = make_pki(tmp_path / "pki")
    env = stack_env(tmp_path, "sqlite:///x.db", "redis://127.0.0.1:1/0",
                    QRPASS_GRPC_AUTHZ_POLICY_FILE=str(POLICY), QRPASS_TLS_CERT_FILE=str(pki.server_cert),
                    QRPASS_TLS_KEY_FILE=str(pki.server_key))  # fmt: skip
    del env["REDIS_URL"]
    port = int(env["IMAGE_LISTEN_ADDR"].rpartition(":")[2])
    image = _start_tls("image_service", env, tmp_path, port)
    try:
        with _channel(port, pki, None) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                image_grpc.ImageServiceStub(channel).GetCacheStats(
                    image_pb.GetCacheStatsRequest(), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        image.stop()


def test_image_service_uses_rediss(tmp_path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    server = RedisServer(("--port", "0", "--tls-port", str(tls_port), "--tls-cert-file", str(pki.server_cert),
                          "--tls-key-file", str(pki.server_key), "--tls-ca-cert-file", str(pki.ca),
                          "--tls-auth-clients", "no"))  # fmt: skip
    server.port = tls_port
    server.start()
    url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={pki.ca}"
    env = stack_env(tmp_path, "sqlite:///x.db", url)
    image = ServiceProcess("image_service", env, tmp_path).start()
    try:
        with grpc.insecure_channel(image.address) as channel:
            stub = image_grpc.ImageServiceStub(channel)
            assert (
                stub.RenderQrCode(image_pb.RenderQrCodeRequest(text="tls")).cache_status
                == image_pb.CACHE_STATUS_MISS
            )
            assert (
                stub.RenderQrCode(image_pb.RenderQrCodeRequest(text="tls")).cache_status
                == image_pb.CACHE_STATUS_HIT
            )
            assert stub.GetCacheStats(image_pb.GetCacheStatsRequest()).connected
        plain = redis.Redis(host="127.0.0.1", port=tls_port, socket_timeout=2)
        with pytest.raises(redis.exceptions.ConnectionError):
            plain.ping()  # the server speaks only TLS
    finally:
        image.stop()
        server.stop()


def test_production_run_logs_no_key_api_key_or_token(tmp_path, postgres, redis_server) -> None:
    keys_dir = tmp_path / "keys"
    kid = keyfiles.generate_key(keys_dir)
    (tmp_path / "client_keys").write_text(CLIENT_KEY + "\n")
    (tmp_path / "admin_keys").write_text(ADMIN_KEY + "\n")
    env = stack_env(tmp_path, postgres.create_database(), redis_server.url, QRPASS_ENV="production",
                    QRPASS_KEYS_DIR=str(keys_dir), QRPASS_API_KEYS_FILE=str(tmp_path / "client_keys"),
                    QRPASS_ADMIN_API_KEYS_FILE=str(tmp_path / "admin_keys"), LOG_LEVEL="DEBUG",
                    QRPASS_GRPC_PLAINTEXT="mesh")  # fmt: skip
    del env["QRPASS_API_KEYS"], env["QRPASS_ADMIN_API_KEYS"]
    log_path = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "qrpass.cli.main", "up"], env=env, cwd=tmp_path,
                          stdout=log_path.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    tokens: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while "qrpass is up" not in log_path.read_text():
            assert up.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        url = f"http://{env['GATEWAY_LISTEN_ADDR']}"
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        client = {"Authorization": f"Bearer {CLIENT_KEY}"}
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.post("/v1/admin/import/students", headers={**admin, "Content-Type": "text/csv"},
                             content=students_csv(5)).status_code == 200  # fmt: skip
            for i in range(1, 6):
                tokens.append(
                    http.get(f"/v1/students/S{i:05d}/qr", headers=client).json()["qr_token"]
                )
            tokens.append(
                http.post("/v1/admin/students/S00001/qr:rotate", headers=admin).json()["qr_token"]
            )
            for token in tokens:
                http.post("/v1/verify", headers=client, json={"token": token})
                http.post("/v1/verify", headers=client, json={"token": token[:-3] + "AAA"})
            http.get(
                "/v1/students/S00001/qr", headers={"Authorization": "Bearer wrong-key-attempt"}
            )
            http.get("/v1/students/NOPE/qr.png?scale=999", headers=client)
    finally:
        up.send_signal(subprocess.signal.SIGINT)
        up.wait(timeout=30)
    logs = log_path.read_text()
    assert '"level": "DEBUG"' in logs or '"level": "INFO"' in logs  # the logs were written
    private = (keys_dir / f"{kid}.pem").read_text()
    body = "".join(private.strip().splitlines()[1:-1])
    secrets = [CLIENT_KEY, ADMIN_KEY, "wrong-key-attempt", body[:40], body[-40:], *tokens]
    secrets += [t.split(".")[2][:24] for t in tokens]  # not even a signature fragment
    leaked = [s for s in secrets if s in logs]
    assert leaked == []
