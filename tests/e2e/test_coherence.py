"""Two token-service replicas and two gateways on one PostgreSQL: after a rotation or deletion
returns, the replica that made it never serves or accepts the old token again, and every other
replica stops within 1 s, while readers hammer both gateways' near-caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import httpx
import pytest

from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc
from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, Stack, seed, stack_env
from tests.support.services import ServiceProcess, run_cli

BOUND_SECONDS = 1.0
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
STUDENT = token_pb.SUBJECT_KIND_STUDENT


@dataclass
class Replicas:
    tokens: list[ServiceProcess]
    gateways: list[ServiceProcess]
    stubs: list[token_grpc.TokenServiceStub]


@pytest.fixture
def replicas(tmp_path, postgres, redis_server) -> Iterator[Replicas]:
    env = stack_env(tmp_path, postgres.create_database(), redis_server.url)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    tokens = [ServiceProcess("token_service", env, tmp_path).start() for _ in range(2)]
    env["TOKEN_SERVICE_ADDR"] = "ipv4:" + ",".join(t.address for t in tokens)  # round robin
    image_port = int(env["IMAGE_LISTEN_ADDR"].rpartition(":")[2])
    image = ServiceProcess("image_service", env, tmp_path, image_port).start()
    gateways = [ServiceProcess("gateway", env, tmp_path).start() for _ in range(2)]
    with httpx.Client(base_url=gateways[0].url, timeout=10) as http:
        seed(Stack(gateways[0].url, env, tmp_path, http))
    channels = [grpc.insecure_channel(t.address) for t in tokens]
    yield Replicas(tokens, gateways, [token_grpc.TokenServiceStub(c) for c in channels])
    for channel in channels:
        channel.close()
    for process in (*gateways, image, *tokens):
        process.stop()


@dataclass
class Readers:
    """Threads that read a pass and verify tokens through both gateways, recording
    (start time, gateway, token served) and (start time, token, valid)."""

    urls: list[str]
    subject: str
    served: list[tuple[float, int, str]] = field(default_factory=list)
    verdicts: list[tuple[float, str, bool]] = field(default_factory=list)
    to_verify: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.urls[index], headers=AUTH, timeout=10) as http:
            while not self._stop.is_set():
                start = time.monotonic()
                reply = http.get(f"/v1/students/{self.subject}/qr")
                if reply.status_code == 200:
                    self.served.append((start, index, reply.json()["qr_token"]))
                for token in list(self.to_verify):
                    start = time.monotonic()
                    verdict = http.post("/v1/verify", json={"token": token}).json()
                    self.verdicts.append((start, token, verdict["valid"]))

    def __enter__(self) -> Readers:
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in (0, 1)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


def _issue(stub: token_grpc.TokenServiceStub, subject: str) -> str:
    return stub.IssueToken(token_pb.IssueTokenRequest(kind=STUDENT, subject_id=subject)).token


def test_rotations_reach_every_replica_within_the_bound(replicas):
    subject = "S00001"
    old_tokens: list[tuple[float, str]] = []  # (when its rotation returned, the replaced token)
    with Readers([g.url for g in replicas.gateways], subject) as readers:
        time.sleep(1)  # both near-caches hold the pass
        for round_ in range(6):
            old = _issue(replicas.stubs[0], subject)
            if round_ % 2 == 0:  # through a gateway's admin route
                gateway = replicas.gateways[round_ % 4 // 2]
                reply = httpx.post(f"{gateway.url}/v1/admin/students/{subject}/qr:rotate",
                                   headers=ADMIN)  # fmt: skip
                assert reply.status_code == 200
                new, done = reply.json()["qr_token"], time.monotonic()
                # The gateway that made the change: at once, whichever token replica answers.
                for _ in range(4):
                    now = httpx.get(f"{gateway.url}/v1/students/{subject}/qr", headers=AUTH)
                    assert now.json()["qr_token"] == new
                    verdict = httpx.post(f"{gateway.url}/v1/verify", headers=AUTH,
                                         json={"token": old}).json()  # fmt: skip
                    assert verdict["valid"] is False and verdict["error"] == "revoked"
            else:  # straight to one token replica over gRPC
                stub = replicas.stubs[round_ % 2]
                request = token_pb.RotateTokenRequest(kind=STUDENT, subject_id=subject)
                new, done = stub.RotateToken(request).token, time.monotonic()
                # The replica that made the change: at once.
                assert _issue(stub, subject) == new
                verdict = stub.VerifyToken(token_pb.VerifyTokenRequest(token=old))
                assert verdict.failure_reason == token_pb.FAILURE_REASON_REVOKED
            old_tokens.append((done, old))
            readers.to_verify.append(old)
            time.sleep(BOUND_SECONDS + 0.5)
        # Every replica agrees on the last token.
        assert {_issue(stub, subject) for stub in replicas.stubs} == {new}
    late_serves = [
        (start, gateway) for start, gateway, token in readers.served
        for done, old in old_tokens if token == old and start > done + BOUND_SECONDS
    ]  # fmt: skip
    assert not late_serves, f"an old token was served after the bound: {late_serves[:3]}"
    late_accepts = [
        start for start, token, valid in readers.verdicts
        for done, old in old_tokens if token == old and valid and start > done + BOUND_SECONDS
    ]  # fmt: skip
    assert not late_accepts, "an old token verified after the bound"
    assert len(readers.served) > 100 and len(readers.verdicts) > 20
    hits = [
        line for line in httpx.get(f"{replicas.gateways[1].url}/metrics").text.splitlines()
        if line.startswith('qrpass_gateway_cache_lookups_total{result="hit"}')
    ]  # fmt: skip
    assert hits and float(hits[0].split()[-1]) > 50  # the readers were served from memory


def test_a_deleted_subject_is_gone_everywhere_within_the_bound(replicas):
    for gateway in replicas.gateways:  # both near-caches hold it
        assert httpx.get(f"{gateway.url}/v1/students/S00002/qr", headers=AUTH).status_code == 200
    token = _issue(replicas.stubs[1], "S00002")
    deleted = httpx.delete(f"{replicas.gateways[0].url}/v1/admin/students/S00002", headers=ADMIN)
    assert deleted.status_code == 204
    for _ in range(4):  # the gateway that deleted it: at once
        gone = httpx.get(f"{replicas.gateways[0].url}/v1/students/S00002/qr", headers=AUTH)
        assert gone.status_code == 404
    time.sleep(BOUND_SECONDS)
    for gateway in replicas.gateways:
        assert httpx.get(f"{gateway.url}/v1/students/S00002/qr", headers=AUTH).status_code == 404
        verdict = httpx.post(f"{gateway.url}/v1/verify", headers=AUTH, json={"token": token})
        assert verdict.json()["error"] == "subject_not_found"


def test_a_killed_token_replica_turns_the_near_cache_off_until_a_stream_is_back(replicas):
    gateway = replicas.gateways[0]
    for _ in range(3):
        assert httpx.get(f"{gateway.url}/v1/students/S00003/qr", headers=AUTH).status_code == 200
    for token in replicas.tokens:
        token.stop()
    time.sleep(0.5)
    reply = httpx.get(f"{gateway.url}/v1/students/S00003/qr", headers=AUTH)
    assert reply.status_code == 503  # nothing is served from a cache nobody keeps coherent
    replicas.tokens[1] = ServiceProcess(
        "token_service", replicas.tokens[1].env, replicas.tokens[1].workdir,
        replicas.tokens[1].port,
    ).start()  # fmt: skip
    deadline = time.monotonic() + 15
    while httpx.get(f"{gateway.url}/v1/students/S00003/qr", headers=AUTH).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    live = [line for line in httpx.get(f"{gateway.url}/metrics").text.splitlines()
            if line.startswith("qrpass_gateway_cache_live ")]  # fmt: skip
    deadline = time.monotonic() + 5
    while live != ["qrpass_gateway_cache_live 1.0"] and time.monotonic() < deadline:
        time.sleep(0.2)
        live = [line for line in httpx.get(f"{gateway.url}/metrics").text.splitlines()
                if line.startswith("qrpass_gateway_cache_live ")]  # fmt: skip
    assert live == ["qrpass_gateway_cache_live 1.0"]
