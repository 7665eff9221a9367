"""Real Redis and PostgreSQL servers on free loopback ports, owned by the test session."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import IO, ClassVar, Self

import psycopg2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, timeout: float = 15.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before listening on {port}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def installed(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (make test installs it)")
    return path


class _Daemon:
    """A server on a free loopback port with a directory of its own. `with` starts it, then
    stops it and removes the directory; stop() alone keeps both, so start() can follow."""

    name: str  # in its directory's name

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"qrpass-{self.name}-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:  # the HTTP servers'; Redis names its own scheme
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def _launch(self, argv: list[str], stderr: IO[bytes] | int | None = subprocess.DEVNULL) -> None:
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
        wait_for_port(self.port, process=self.process)


class RedisServer(_Daemon):
    """redis-server on a free port; stop() and start() simulate an outage on the same port."""

    name = "redis"

    def __init__(self, extra_args: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._extra = extra_args

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._launch(
            [installed("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--enable-debug-command", "local", *self._extra],
            stderr=None,
        )  # fmt: skip

    def stop(self) -> None:  # abrupt, like a crash
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else installed(name)


class PostgresServer(_Daemon):
    """A throwaway PostgreSQL cluster; as root it runs as user postgres (initdb refuses root)."""

    name = "pg"
    # A throwaway server need not survive a power cut: no fsync, no waiting for the WAL.
    SETTINGS: ClassVar[dict[str, str]] = {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }

    def __init__(self, settings: dict[str, str] | None = None, *, empty: bool = False) -> None:
        """`settings` are passed as `-c` options over SETTINGS; `empty` leaves the data
        directory for the caller to fill (a standby's base backup)."""
        super().__init__()
        self.data = self.dir / "data"
        self.settings = self.SETTINGS | (settings or {})
        self._as_root = os.geteuid() == 0
        if self._as_root:
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "postgres", "postgres")
        if not empty:
            self._run([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                       "--no-sync", "-E", "UTF8"])  # fmt: skip

    def _command(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_root else argv

    def _run(self, argv: list[str]) -> None:
        subprocess.run(self._command(argv), check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        argv = [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=300"]  # fmt: skip
        for name, setting in self.settings.items():
            argv += ["-c", f"{name}={setting}"]
        self._launch(self._command(argv))
        deadline = time.monotonic() + 15
        while True:  # the port opens a moment before connections are accepted
            try:
                psycopg2.connect(self.admin_dsn).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # A "fast" shutdown closes client sessions at once ("smart" would wait for pooled
            # clients to leave). Through pg_ctl, because runuser turns signals into SIGTERM.
            subprocess.run(
                self._command([_pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
            )  # fmt: skip
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL the postmaster and every process it started, as a lost node would go."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        for pid in (postmaster, *map(int, children)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=15)

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = "qrpass_" + uuid.uuid4().hex[:12]
        connection = psycopg2.connect(self.admin_dsn)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"


class ReplicatedPostgres:
    """A primary and a synchronous standby streaming from it: a commit is acknowledged only
    once the standby has it, so promoting the standby loses no acknowledged write."""

    def __init__(self) -> None:
        # Only the primary waits for a standby: a promoted standby that did so too would hold
        # every commit until a new standby joined (failover managers clear it on promotion).
        sync = {"synchronous_commit": "on"}
        self.primary = PostgresServer(sync | {"synchronous_standby_names": "*"})
        self.standby = PostgresServer(sync, empty=True)

    @property
    def servers(self) -> tuple[PostgresServer, PostgresServer]:
        return self.primary, self.standby

    def start(self) -> None:
        try:
            self.primary.start()
            self.standby._run(
                [_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
                 "-U", "postgres", "-D", str(self.standby.data), "-R", "-X", "stream",
                 "--no-sync", "-c", "fast"]
            )  # fmt: skip
            self.standby.start()
            self._wait_for_sync()
        except BaseException:
            self.stop()
            raise

    def _wait_for_sync(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            connection = psycopg2.connect(self.primary.admin_dsn)
            with contextlib.closing(connection), connection.cursor() as cursor:
                cursor.execute("SELECT sync_state FROM pg_stat_replication")
                if ("sync",) in cursor.fetchall():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("the standby did not become synchronous in 30 s")
            time.sleep(0.1)

    def promote(self) -> None:
        """Make the standby the primary (what CloudNativePG or Patroni does on a failover)."""
        connection = psycopg2.connect(self.standby.admin_dsn)
        connection.autocommit = True
        with contextlib.closing(connection), connection.cursor() as cursor:
            cursor.execute("SELECT pg_promote(wait => true, wait_seconds => 30)")
            if cursor.fetchone() != (True,):
                raise RuntimeError("the standby was not promoted in 30 s")

    def url(self, database: str) -> str:
        """SQLAlchemy's multi-host form: libpq tries each host and keeps the one that writes."""
        hosts = "&".join(f"host=127.0.0.1:{server.port}" for server in self.servers)
        return f"postgresql+psycopg2://postgres@/{database}?{hosts}&target_session_attrs=read-write"

    def create_database(self) -> str:
        """A new empty database (the standby replays it); returns its multi-host URL."""
        return self.url(self.primary.create_database().rpartition("/")[2])

    def stop(self) -> None:
        for server in self.servers:
            server.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RedisClusterServer:
    """Three masters on loopback, joined with `redis-cli --cluster create`."""

    def __init__(self) -> None:
        self.nodes = [RedisServer(("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"))
                      for _ in range(3)]  # fmt: skip
        for node in self.nodes:
            # The bus port defaults to port + 10000, past 65535 for high ephemeral ports.
            node._extra = (*node._extra, "--cluster-config-file", str(node.dir / "nodes.conf"),
                           "--cluster-port", str(free_port()))  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()  # never leave nodes behind
            raise

    def _start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            info = subprocess.run(
                ["redis-cli", "-p", str(self.nodes[0].port), "cluster", "info"],
                capture_output=True, text=True, timeout=10,
            ).stdout  # fmt: skip
            if "cluster_state:ok" in info:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster did not become ok:\n{info}")
            time.sleep(0.2)

    def stop(self) -> None:
        for node in self.nodes:
            node.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class PushgatewayServer(_Daemon):
    """Debian's prometheus-pushgateway on a free loopback port, with a state file of its own
    (Debian's default file would carry pushes over from earlier runs)."""

    name = "pushgateway"

    def start(self) -> None:
        self._launch(
            [installed("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{self.port}",
             f"--persistence.file={self.dir / 'pushgateway.data'}"]
        )  # fmt: skip


class PrometheusServer(_Daemon):
    """Debian's prometheus on a free loopback port, with a config the test writes."""

    name = "prometheus"

    def __init__(self, config: str) -> None:
        super().__init__()
        (self.dir / "prometheus.yml").write_text(config)

    def start(self) -> None:
        self._launch(
            [installed("prometheus"), f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stderr=(self.dir / "prometheus.log").open("wb"),
        )  # fmt: skip
        # The port opens before the storage is loaded; until then queries answer 503.
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("prometheus did not become ready in 30 s")
            time.sleep(0.1)
