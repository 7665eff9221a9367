"""The crowd's first open is a near-cache hit: a gateway holds every warmed pass before anyone
asks for it, keeps what it holds through a token-service restart and an import, and never
serves a token that a rotation replaced, while it fills or while its stream resumes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc
from tests.conftest import students_csv
from tests.support.metrics import scrape
from tests.support.qr import decode_png
from tests.support.services import ADMIN_KEY, CLIENT_KEY, ServiceProcess, run_cli, stack_env

STUDENTS = 300
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
STUDENT = token_pb.SUBJECT_KIND_STUDENT
FILL_SECONDS = 60  # the issue's bound, after a warm ends or a gateway starts
IDS = [f"S{i:05d}" for i in range(1, STUDENTS + 1)]


@dataclass
class Services:
    env: dict[str, str]
    workdir: Path
    token: ServiceProcess
    image: ServiceProcess
    stub: token_grpc.TokenServiceStub

    def gateway(self, **extra: str) -> ServiceProcess:
        return ServiceProcess("gateway", self.env | extra, self.workdir).start()

    def cli(self, *args: str) -> str:
        result = run_cli(list(args), self.env, self.workdir)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def current(self, subject: str) -> str:
        request = token_pb.IssueTokenRequest(kind=STUDENT, subject_id=subject)
        return self.stub.IssueToken(request).token


@pytest.fixture
def services(tmp_path, postgres, redis_server, request) -> Iterator[Services]:
    """A token and an image service with 300 students imported; Redis on a database of its own,
    so the warm state is this test's."""
    redis_db = redis_server.url.rsplit("/", 1)[0] + "/9"
    env = stack_env(tmp_path, postgres.create_database(), redis_db)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0

    def port(name: str) -> int:
        return int(env[name].rpartition(":")[2])

    token = ServiceProcess("token_service", env, tmp_path, port("TOKEN_LISTEN_ADDR")).start()
    image = ServiceProcess("image_service", env, tmp_path, port("IMAGE_LISTEN_ADDR")).start()
    channel = grpc.insecure_channel(token.address)
    running = Services(env, tmp_path, token, image, token_grpc.TokenServiceStub(channel))
    (tmp_path / "students.csv").write_bytes(students_csv(STUDENTS))
    running.cli("cache", "clear")
    running.cli("import", "students", str(tmp_path / "students.csv"))
    yield running
    channel.close()
    for process in (running.image, running.token):
        process.stop()


def _metric(gateway: ServiceProcess, name: str, **labels: str) -> float:
    return scrape(f"{gateway.url}/metrics").get((name, frozenset(labels.items())), 0.0)


def _wait_for_entries(gateway: ServiceProcess, count: int, seconds: float) -> float:
    start = time.monotonic()
    while _metric(gateway, "qrpass_gateway_cache_entries") < count:
        assert time.monotonic() - start < seconds, (
            f"the near-cache holds {_metric(gateway, 'qrpass_gateway_cache_entries')} of {count}"
        )
        time.sleep(0.2)
    return time.monotonic() - start


def _open_each(gateway: ServiceProcess, ids: list[str]) -> dict[str, dict]:
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as http:
        replies = {sid: http.get(f"/v1/students/{sid}/qr") for sid in ids}
    assert all(r.status_code == 200 for r in replies.values())
    return {sid: r.json() for sid, r in replies.items()}


def _decodes_to_its_token(body: dict) -> bool:
    import base64

    png = base64.b64decode(body["qr_image"].removeprefix("data:image/png;base64,"))
    return decode_png(png) == body["qr_token"]


def test_a_gateway_that_starts_after_the_warm_holds_every_pass_before_it_is_asked(services):
    services.cli("warm")
    gateway = services.gateway()
    try:
        _wait_for_entries(gateway, STUDENTS, FILL_SECONDS)
        assert _metric(gateway, "qrpass_gateway_cache_tokens") == STUDENTS
        bodies = _open_each(gateway, IDS)  # the crowd: each student once, a first open
        assert all(body["cached"] for body in bodies.values())
        assert all(body["qr_token"] == services.current(sid) for sid, body in bodies.items())
        assert all(_decodes_to_its_token(body) for body in bodies.values())
        hits = _metric(gateway, "qrpass_gateway_cache_lookups_total", result="hit")
        misses = _metric(gateway, "qrpass_gateway_cache_lookups_total", result="miss")
        assert (hits, misses) == (STUDENTS, 0)
    finally:
        gateway.stop()


def test_a_warm_that_ends_after_the_gateway_started_reaches_it_within_the_bound(services):
    gateway = services.gateway()
    try:
        time.sleep(1)  # its first fill round finds nothing: no image is cached yet
        assert _metric(gateway, "qrpass_gateway_cache_entries") == 0
        assert _metric(gateway, "qrpass_gateway_cache_tokens") == STUDENTS
        services.cli("warm")
        _wait_for_entries(gateway, STUDENTS, FILL_SECONDS)
        bodies = _open_each(gateway, IDS[:20])
        assert all(body["cached"] and _decodes_to_its_token(body) for body in bodies.values())
    finally:
        gateway.stop()


def test_a_pass_beyond_the_budget_is_one_image_lookup_and_still_right(services):
    """A 1 MB budget holds a few hundred passes; the rest are misses that need only the image
    (the token is known from the stream), and every answer is the current token's image."""
    services.cli("warm")
    gateway = services.gateway(GATEWAY_NEAR_CACHE_MB="1")
    try:
        deadline = time.monotonic() + FILL_SECONDS
        while _metric(gateway, "qrpass_gateway_cache_tokens") < STUDENTS:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        bodies = _open_each(gateway, IDS)
        assert all(body["qr_token"] == services.current(sid) for sid, body in bodies.items())
        assert all(_decodes_to_its_token(body) for body in list(bodies.values())[::10])
        assert _metric(gateway, "qrpass_gateway_cache_bytes") <= 1024 * 1024
        issued = _metric(gateway, "grpc_client_started_total", grpc_type="unary",
                         grpc_service="qrpass.token.v1.TokenService",
                         grpc_method="IssueToken")  # fmt: skip
        assert issued == 0  # no miss asked the token service
    finally:
        gateway.stop()


def test_a_token_service_restart_resumes_the_stream_and_keeps_what_was_held(services):
    services.cli("warm")
    other = ServiceProcess("token_service", services.env, services.workdir).start()
    gateway = services.gateway()  # it follows services.token only
    try:
        _wait_for_entries(gateway, STUDENTS, FILL_SECONDS)
        services.token.stop()
        time.sleep(2.5)  # past the staleness bound: nothing cached is served now
        with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as http:
            assert http.get(f"/v1/students/{IDS[5]}/qr").status_code == 503
        with grpc.insecure_channel(other.address) as channel:  # a change while it is down
            rotated = (
                token_grpc.TokenServiceStub(channel)
                .RotateToken(token_pb.RotateTokenRequest(kind=STUDENT, subject_id=IDS[0]))
                .token
            )
        services.token = ServiceProcess(
            "token_service", services.env, services.workdir, services.token.port
        ).start()
        back = time.monotonic()
        while _metric(gateway, "qrpass_gateway_cache_live") != 1:
            assert time.monotonic() - back < 5
            time.sleep(0.05)
        assert time.monotonic() - back < 2.5
        misses = _metric(gateway, "qrpass_gateway_cache_lookups_total", result="miss")
        bodies = _open_each(gateway, IDS)
        assert bodies[IDS[0]]["qr_token"] == rotated and _decodes_to_its_token(bodies[IDS[0]])
        assert all(body["cached"] for sid, body in bodies.items() if sid != IDS[0])
        assert _metric(gateway, "qrpass_gateway_cache_lookups_total", result="miss") == misses + 1
        assert _metric(gateway, "qrpass_gateway_cache_resets_total", reason="new_watcher") == 1
        assert _metric(gateway, "qrpass_gateway_cache_resets_total", reason="position_unknown") == 0
    finally:
        gateway.stop()
        other.stop()


def test_an_import_of_a_thousand_subjects_sends_those_subjects_and_keeps_every_other(services):
    services.cli("warm")
    gateway = services.gateway()
    try:
        _wait_for_entries(gateway, STUDENTS, FILL_SECONDS)
        more = students_csv(1000, start=STUDENTS + 1)
        reply = httpx.post(f"{gateway.url}/v1/admin/import/students", headers=ADMIN | {
            "Content-Type": "text/csv"}, content=more, timeout=60)  # fmt: skip
        assert reply.status_code == 200 and reply.json()["created"] == 1000
        deadline = time.monotonic() + 5
        while _metric(gateway, "qrpass_gateway_cache_tokens") < STUDENTS + 1000:
            assert time.monotonic() < deadline, "the imported subjects did not reach the gateway"
            time.sleep(0.1)
        assert _metric(gateway, "qrpass_gateway_cache_entries") >= STUDENTS
        bodies = _open_each(gateway, IDS)
        assert all(body["cached"] for body in bodies.values())
        new = _open_each(gateway, [f"S{STUDENTS + 1:05d}"])[f"S{STUDENTS + 1:05d}"]
        assert new["qr_token"] == services.current(f"S{STUDENTS + 1:05d}")
        assert _decodes_to_its_token(new)
        resets = {labels: v for (name, labels), v in scrape(f"{gateway.url}/metrics").items()
                  if name == "qrpass_gateway_cache_resets_total"}  # fmt: skip
        assert resets == {frozenset({("reason", "new_watcher")}): 1}
    finally:
        gateway.stop()


def test_rotations_while_a_gateway_fills_and_while_its_stream_resumes_are_never_lost(services):
    services.cli("warm")
    rotating = IDS[:20]
    stop = threading.Event()

    def rotate_until_stopped() -> None:
        with grpc.insecure_channel(services.token.address) as channel:
            stub = token_grpc.TokenServiceStub(channel)
            while not stop.is_set():
                for sid in rotating:
                    request = token_pb.RotateTokenRequest(kind=STUDENT, subject_id=sid)
                    try:
                        stub.RotateToken(request, timeout=5)
                    except grpc.RpcError:  # the token service is restarted below
                        time.sleep(0.1)

    rotator = threading.Thread(target=rotate_until_stopped)
    rotator.start()
    gateway = None
    try:
        gateway = services.gateway()  # fills while rotations go on
        _wait_for_entries(gateway, STUDENTS - len(rotating), FILL_SECONDS)
        services.token.stop()
        services.token = ServiceProcess(
            "token_service", services.env, services.workdir, services.token.port
        ).start()  # the stream resumes while rotations go on
        time.sleep(2)
    finally:
        stop.set()
        rotator.join(timeout=30)
    try:
        assert gateway is not None
        time.sleep(1.5)  # the bound for the last rotation to reach the gateway
        bodies = _open_each(gateway, IDS)
        stale = [sid for sid, body in bodies.items() if body["qr_token"] != services.current(sid)]
        assert stale == []
        assert all(_decodes_to_its_token(bodies[sid]) for sid in rotating)
    finally:
        gateway.stop()
