"""Session-wide real servers (PostgreSQL, Redis) and factories for service processes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc
from tests.support.servers import (
    PostgresServer,
    PushgatewayServer,
    RedisClusterServer,
    RedisServer,
)
from tests.support.services import (
    ADMIN_KEY,
    CLIENT_KEY,
    LEGACY_SECRET,
    SCANNER_KEY,
    ServiceProcess,
    base_env,
    run_cli,
)

T = TypeVar("T")
STUDENT = token_pb.SUBJECT_KIND_STUDENT
STALL = token_pb.SUBJECT_KIND_STALL


# What no log line (nor span attribute) of ours may hold: a token (every JWT starts `eyJ`), a test subject's email,
# an API key or a secret. Guessed keys sent by the tests start `guess-` or `wrong-key`.
SECRET_PATTERN = re.compile(
    "|".join(
        [r"eyJ", r"@campus\.edu", r"@example\.edu", r"guess-", r"wrong-key"]
        + [re.escape(s) for s in (ADMIN_KEY, CLIENT_KEY, SCANNER_KEY, LEGACY_SECRET)]
    )
)
_OUR_LOGS = re.compile(r"(token_service|image_service|gateway)-\d+\.log|up\.log")


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After every test: no line any qrpass process logged holds a token, email or key."""
    yield
    leaks = []
    for path in tmp_path_factory.getbasetemp().rglob("*.log"):
        if not _OUR_LOGS.fullmatch(path.name):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if SECRET_PATTERN.search(line):
                leaks.append(f"{path}:{number}: {line[:300]}")
    assert not leaks, "secrets or personal data in logs:\n" + "\n".join(leaks[:20])


def _session_server(server: Callable[[], AbstractContextManager[T]]) -> Callable[[], Iterator[T]]:
    """A fixture that runs one `server` for the whole session; it takes its variable's name."""

    @pytest.fixture(scope="session")
    def fixture() -> Iterator[T]:
        with server() as running:
            yield running

    return fixture


postgres = _session_server(PostgresServer)
redis_server = _session_server(RedisServer)
redis_cluster = _session_server(RedisClusterServer)
pushgateway = _session_server(PushgatewayServer)


def students_csv(count: int, start: int = 1, prefix: str = "S") -> bytes:
    lines = ["id,registration_no,name,email"]
    lines += [
        f"{prefix}{i:05d},R{i:07d},Student {i},s{i}@campus.edu" for i in range(start, start + count)
    ]
    return ("\n".join(lines) + "\n").encode()


def stalls_csv(count: int) -> bytes:
    lines = ["id,stall_number,name"] + [f"T{i:03d},A-{i},Stall {i}" for i in range(1, count + 1)]
    return ("\n".join(lines) + "\n").encode()


class RunningTokenService:
    """A token service process and a real channel to it."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.channel = grpc.insecure_channel(service.address)
        self.stub = token_grpc.TokenServiceStub(self.channel)

    @property
    def env(self) -> dict[str, str]:
        return self.service.env

    @property
    def keys_dir(self) -> Path:
        return Path(self.env["QRPASS_KEYS_DIR"])

    def another_replica(self) -> RunningTokenService:
        """A second process on the same database and keys, as another pod would be."""
        service = self.service
        return RunningTokenService(
            ServiceProcess("token_service", service.env, service.workdir).start()
        )

    def import_csv(self, content: bytes, kind: int = STUDENT) -> token_pb.ImportSubjectsResponse:
        return self.stub.ImportSubjects(token_pb.ImportSubjectsRequest(kind=kind, content=content))

    def issue(self, subject_id: str, kind: int = STUDENT) -> token_pb.IssueTokenResponse:
        return self.stub.IssueToken(token_pb.IssueTokenRequest(kind=kind, subject_id=subject_id))

    def verify(self, token: str, expected_kind: int = 0) -> token_pb.VerifyTokenResponse:
        request = token_pb.VerifyTokenRequest(token=token, expected_kind=expected_kind)
        return self.stub.VerifyToken(request)

    def rotate(self, subject_id: str, kind: int = STUDENT) -> token_pb.RotateTokenResponse:
        return self.stub.RotateToken(token_pb.RotateTokenRequest(kind=kind, subject_id=subject_id))

    def close(self) -> None:
        self.channel.close()
        self.service.stop()


def _start_token_service(
    workdir: Path, database_url: str, overrides: dict[str, str]
) -> RunningTokenService:
    workdir.mkdir(parents=True, exist_ok=True)
    env = base_env(workdir, DATABASE_URL=database_url, **overrides)
    migrated = run_cli(["db", "upgrade"], env, workdir)
    assert migrated.returncode == 0, migrated.stderr
    return RunningTokenService(ServiceProcess("token_service", env, workdir).start())


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def start_token_service(
    tmp_path: Path, postgres: PostgresServer
) -> Iterator[Callable[..., RunningTokenService]]:
    """Start a token service on SQLite or PostgreSQL with extra env; stopped after the test."""
    started: list[RunningTokenService] = []

    def start(backend: str = "sqlite", **overrides: str) -> RunningTokenService:
        workdir = tmp_path / f"token{len(started)}"
        url = postgres.create_database() if backend == "postgres" else f"sqlite:///{workdir}/q.db"
        client = _start_token_service(workdir, url, overrides)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


@pytest.fixture
def two_replicas(
    start_token_service: Callable[..., RunningTokenService],
) -> Iterator[tuple[RunningTokenService, RunningTokenService]]:
    """Two token service processes on one PostgreSQL database and keys, as two pods would be."""
    first = start_token_service("postgres")
    second = first.another_replica()
    yield first, second
    second.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def token_service(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer,
) -> Iterator[RunningTokenService]:
    """One token service per module and backend, seeded with 20 students and 5 stalls."""
    workdir = tmp_path_factory.mktemp(f"token-{request.param}")
    url = postgres.create_database() if request.param == "postgres" else f"sqlite:///{workdir}/q.db"
    client = _start_token_service(workdir, url, {"QRPASS_LEGACY_JWT_SECRET": LEGACY_SECRET})
    assert client.import_csv(students_csv(20)).created == 20
    assert client.import_csv(stalls_csv(5), STALL).created == 5
    yield client
    client.close()
