"""SIGKILL in the middle of an import or a warm leaves nothing half done."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import grpc
import psycopg2

from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from tests.conftest import students_csv
from tests.support.qr import decode_png
from tests.support.services import ServiceProcess, base_env, run_cli


def _student_count(database_url: str) -> tuple[int, set[str]]:
    dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM students")
        (total,) = cursor.fetchone()
        cursor.execute("SELECT DISTINCT split_part(name, ' ', 1) FROM students")
        prefixes = {row[0] for row in cursor.fetchall()}
    return total, prefixes


def test_sigkill_during_a_25000_row_import_leaves_old_or_new_state(
    start_token_service, tmp_path
) -> None:
    client = start_token_service("postgres")
    client.import_csv(students_csv(1000))  # the old state: 1000 students named "Student n"
    new = students_csv(25_000).replace(b",Student ", b",Renamed ")
    path = tmp_path / "big.csv"
    path.write_bytes(new)
    env = {**client.env, "TOKEN_SERVICE_ADDR": client.service.address}
    importer = subprocess.Popen([sys.executable, "-m", "qrpass.cli.main", "import", "students", str(path)],
                                env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1.5)  # the service is now validating or writing
    client.service.stop(signal.SIGKILL)
    importer.wait(timeout=60)
    total, prefixes = _student_count(client.env["DATABASE_URL"])
    assert (total, prefixes) in [(1000, {"Student"}), (25_000, {"Renamed"})], (total, prefixes)


def test_sigkill_during_a_warm_then_the_next_warm_completes(
    start_token_service, redis_server, tmp_path
) -> None:
    tokens = start_token_service()
    tokens.import_csv(students_csv(4000))
    url = redis_server.url.rsplit("/", 1)[0] + "/9"
    env = base_env(tmp_path, REDIS_URL=url, IMAGE_RENDER_WORKERS="2")
    image = ServiceProcess("image_service", env, tmp_path).start()
    cli_env = {
        **env,
        "TOKEN_SERVICE_ADDR": tokens.service.address,
        "IMAGE_SERVICE_ADDR": image.address,
    }
    warm = subprocess.Popen([sys.executable, "-m", "qrpass.cli.main", "warm", "--quiet"], env=cli_env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(2)
    assert warm.poll() is None, "the warm finished before it could be killed"
    image.stop(signal.SIGKILL)
    warm.send_signal(signal.SIGKILL)
    warm.wait()
    image = ServiceProcess("image_service", env, tmp_path, image.port).start()
    try:
        again = run_cli(["warm", "--quiet"], cli_env, tmp_path)
        assert again.returncode == 0, again.stderr
        assert "total 4000" in again.stdout and "failed 0" in again.stdout
        # Every entry is whole: each cached image decodes to the token of its subject.
        with grpc.insecure_channel(image.address) as channel:
            stub = image_grpc.ImageServiceStub(channel)
            from qrpass.token.v1 import token_service_pb2 as token_pb

            page_token = ""
            checked = 0
            while True:
                page = tokens.stub.ListTokens(
                    token_pb.ListTokensRequest(kind=1, page_size=1000, page_token=page_token)
                )
                for entry in page.subject_tokens:
                    reply = stub.RenderQrCode(image_pb.RenderQrCodeRequest(text=entry.token))
                    assert reply.cache_status == image_pb.CACHE_STATUS_HIT
                    assert decode_png(reply.image) == entry.token
                    checked += 1
                page_token = page.next_page_token
                if not page_token:
                    break
        assert checked == 4000
    finally:
        image.stop()
