"""PostgreSQL failover under load: a primary and a synchronous standby, qrpass on a multi-host
DATABASE_URL, the primary SIGKILLed under steady check-ins and rotations and the standby promoted.
No acknowledged write is lost, writes answer 503 "retry shortly" only in the gap, passes and
verification answer throughout, and the change log carries on without a gap or a duplicate."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psycopg2
import pytest

from tests.e2e.conftest import Stack, seed
from tests.support import metrics
from tests.support.servers import ReplicatedPostgres
from tests.support.services import (
    ADMIN_KEY,
    CLIENT_KEY,
    SCANNER_KEY,
    ServiceProcess,
    run_cli,
    stack_env,
)

RECOVERY_SECONDS = 15.0  # writes work again this soon after the promotion
RETRY_SHORTLY = "the database is unavailable; retry shortly"
READ_SUBJECTS = [f"S{i:05d}" for i in range(1, 21)]  # opened and verified, never rotated
ROTATED_SUBJECTS = [f"S{i:05d}" for i in range(21, 26)]


@dataclass
class System:
    cluster: ReplicatedPostgres
    database: str
    tokens: list[ServiceProcess]
    gateway: ServiceProcess

    def primary_dsn(self) -> str:
        """The standby's address once promoted: every later read goes there."""
        standby = self.cluster.standby
        return f"host=127.0.0.1 port={standby.port} user=postgres dbname={self.database}"


@pytest.fixture
def system(tmp_path, redis_server) -> Iterator[System]:
    with contextlib.ExitStack() as stack:

        def started(module: str, env: dict[str, str], port: int | None = None) -> ServiceProcess:
            process = ServiceProcess(module, env, tmp_path, port)
            stack.callback(process.stop)  # stops it even when a later one fails to start
            return process.start()

        cluster = stack.enter_context(ReplicatedPostgres())
        url = cluster.create_database()
        env = stack_env(tmp_path, url, redis_server.url)
        assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
        tokens = [started("token_service", env) for _ in range(2)]
        env["TOKEN_SERVICE_ADDR"] = "ipv4:" + ",".join(t.address for t in tokens)
        started("image_service", env, int(env["IMAGE_LISTEN_ADDR"].rpartition(":")[2]))
        gateway = started("gateway", env)
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            seed(Stack(gateway.url, env, tmp_path, http))
        yield System(cluster, url.partition("?")[0].rpartition("/")[2], tokens, gateway)


@dataclass
class Load:
    """Check-ins (~30/s, each retried with its own scan_id until acknowledged, as a scanner's
    queue would), rotations (~5/s) and pass opens and verifications, all through the gateway."""

    url: str
    tokens: dict[str, str]
    acknowledged_scans: list[str] = field(default_factory=list)
    write_failures: list[tuple[float, int, str]] = field(
        default_factory=list
    )  # (when, status, detail)
    read_failures: list[tuple[str, int, str]] = field(default_factory=list)
    last_rotation: dict[str, str] = field(default_factory=dict)  # subject -> newest token answered
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _write(self, http: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response | None:
        try:
            reply = http.request(method, path, **kwargs)
        except httpx.HTTPError as error:  # recorded, so the thread carries on
            self.write_failures.append((time.monotonic(), 0, repr(error)))
            return None
        if reply.status_code == 200:
            return reply
        self.write_failures.append((time.monotonic(), reply.status_code, reply.json()["detail"]))
        time.sleep(0.1)
        return None

    def _check_ins(self) -> None:
        headers = {"Authorization": f"Bearer {SCANNER_KEY}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as http:
            i = 0
            while not self._stop.is_set():
                scan_id = uuid.uuid4().hex
                body = {"token": self.tokens[READ_SUBJECTS[i % len(READ_SUBJECTS)]],
                        "gate": "North", "direction": ("in", "out")[i // 20 % 2],
                        "scan_id": scan_id}  # fmt: skip
                while self._write(http, "POST", "/v1/checkins", json=body) is None:
                    pass  # the same scan_id again: a retry must not count it twice
                self.acknowledged_scans.append(scan_id)
                i += 1
                time.sleep(0.033)

    def _rotations(self) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as http:
            i = 0
            while not self._stop.is_set():
                subject = ROTATED_SUBJECTS[i % len(ROTATED_SUBJECTS)]
                reply = self._write(http, "POST", f"/v1/admin/students/{subject}/qr:rotate")
                if reply is not None:
                    self.last_rotation[subject] = reply.json()["qr_token"]
                i += 1
                time.sleep(0.2)

    def _reads(self) -> None:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as http:
            i = 0
            while not self._stop.is_set():
                subject = READ_SUBJECTS[i % len(READ_SUBJECTS)]
                opened = http.get(f"/v1/students/{subject}/qr")
                if opened.status_code != 200 or opened.json()["qr_token"] != self.tokens[subject]:
                    self.read_failures.append((subject, opened.status_code, opened.text[:200]))
                verdict = http.post("/v1/verify", json={"token": self.tokens[subject]})
                if verdict.status_code != 200 or verdict.json()["valid"] is not True:
                    self.read_failures.append((subject, verdict.status_code, verdict.text[:200]))
                self.reads += 2
                i += 1
                time.sleep(0.01)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=run, daemon=True)
                         for run in (self._check_ins, self._rotations, self._reads)]  # fmt: skip
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _version(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["ver"])


def _ledger(http: httpx.Client) -> list[str]:
    scan_ids, page = [], ""
    while True:
        reply = http.get("/v1/admin/scans", params={"page_size": 500, "page_token": page})
        assert reply.status_code == 200, reply.text
        scan_ids += [scan["scan_id"] for scan in reply.json()["scans"]]
        page = reply.json()["next_page_token"]
        if not page:
            return scan_ids


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_killed_primary_loses_no_acknowledged_write_and_the_log_carries_on(system) -> None:
    with httpx.Client(base_url=system.gateway.url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
        tokens = {s: http.get(f"/v1/students/{s}/qr", headers=auth).json()["qr_token"]
                  for s in READ_SUBJECTS}  # fmt: skip
        with Load(system.gateway.url, tokens) as load:
            time.sleep(3)
            before_kill = len(load.acknowledged_scans)
            system.cluster.primary.kill()
            time.sleep(1)
            system.cluster.promote()
            promoted = time.monotonic()
            time.sleep(RECOVERY_SECONDS + 2)

        assert before_kill > 50 and len(load.acknowledged_scans) > before_kill + 50
        assert load.reads > 500 and not load.read_failures, load.read_failures[:5]
        # Writes failed only in the gap, and only with the message that says to retry.
        assert load.write_failures, "the kill left no gap at all: was the primary killed?"
        assert {(status, detail) for _, status, detail in load.write_failures} == {
            (503, RETRY_SHORTLY)
        }
        assert max(when for when, _, _ in load.write_failures) < promoted + RECOVERY_SECONDS

        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http.headers.update(admin)
        ledger = Counter(_ledger(http))
        assert all(ledger[scan_id] == 1 for scan_id in load.acknowledged_scans), "lost or doubled"
        for subject, newest in load.last_rotation.items():
            current = http.get(f"/v1/students/{subject}/qr").json()["qr_token"]
            assert _version(current) >= _version(newest), f"{subject}'s rotation was lost"

    connection = psycopg2.connect(system.primary_dsn())
    with contextlib.closing(connection), connection.cursor() as cursor:
        cursor.execute("SELECT sequence FROM subject_changes ORDER BY sequence")
        sequences = [row[0] for row in cursor.fetchall()]
    assert sequences == list(range(1, len(sequences) + 1)), "a gap or a duplicate in the log"
    last = sequences[-1]

    def replicas_caught_up() -> bool:
        seen = [metrics.value(f"http://127.0.0.1:{t.metrics_port}/metrics",
                              "qrpass_token_index_sequence") for t in system.tokens]  # fmt: skip
        return seen == [last, last]

    gateway_metrics = f"{system.gateway.url}/metrics"
    assert _wait_for(replicas_caught_up), "a token replica's index stopped short of the log"
    assert _wait_for(
        lambda: metrics.value(gateway_metrics, "qrpass_gateway_cache_sequence") == last
    ), "the gateway's change stream stopped short of the log"
    resets = metrics.value(gateway_metrics, "qrpass_gateway_cache_resets_total",
                           reason="position_unknown")  # fmt: skip
    assert resets == 0, "the stream lost its place across the failover"
