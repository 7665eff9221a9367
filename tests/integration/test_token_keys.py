"""Key rotation, removed keys, HS256, lifetimes and start-up checks, on a real token service."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from qrpass.core import keyfiles
from qrpass.token.v1 import token_service_pb2 as pb
from tests.conftest import STUDENT, students_csv
from tests.support.services import base_env, run_cli

R = pb.FailureReason


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_rotation_keeps_old_key_verifying_and_removal_gives_unknown_key(
    start_token_service,
) -> None:
    client = start_token_service("postgres")
    client.import_csv(students_csv(3))
    old = client.issue("S00001")

    rotated = run_cli(["keys", "rotate"], client.env, client.service.workdir)
    assert rotated.returncode == 0, rotated.stderr
    new_kid = keyfiles.read_active(client.keys_dir)
    assert new_kid and new_kid != old.kid

    # The running service picks up the new key without a restart.
    _wait_for(lambda: client.rotate("S00002").kid == new_kid)
    assert client.issue("S00001").token == old.token  # existing passes are not re-signed
    assert client.verify(old.token).valid  # the retired key still verifies
    jwks = client.stub.GetJwks(pb.GetJwksRequest())
    assert {k.kid for k in jwks.keys} == {old.kid, new_kid}
    assert jwks.active_kid == new_kid

    (client.keys_dir / f"{old.kid}.pem").unlink()
    _wait_for(lambda: client.verify(old.token).failure_reason == R.FAILURE_REASON_UNKNOWN_KEY)
    reissued = client.issue("S00001")  # the subject gets a pass it can use again
    assert reissued.kid == new_kid and reissued.version == old.version
    assert client.verify(reissued.token).valid


def test_hs256_mode_signs_with_secret_and_publishes_no_keys(start_token_service) -> None:
    client = start_token_service(JWT_ALGORITHM="HS256", JWT_SECRET="s" * 40)
    client.import_csv(students_csv(1))
    token = client.issue("S00001").token
    assert client.verify(token).valid
    assert list(client.stub.GetJwks(pb.GetJwksRequest()).keys) == []


def test_lifetime_adds_exp_and_expired_tokens_fail(start_token_service) -> None:
    import jwt

    client = start_token_service(JWT_TTL_SECONDS="3600")
    client.import_csv(students_csv(1))
    claims = jwt.decode(client.issue("S00001").token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"JWT_ALGORITHM": "HS256", "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"JWT_ALGORITHM": "HS256"}, "JWT_SECRET"),
        ({"JWT_ALGORITHM": "RS256"}, "JWT_ALGORITHM"),
        ({"TOKEN_LISTEN_ADDR": "nonsense"}, "TOKEN_LISTEN_ADDR"),
        ({"TOKEN_METRICS_PORT": "ninety"}, "TOKEN_METRICS_PORT"),
        ({"JWT_TTL_SECONDS": "-5"}, "JWT_TTL_SECONDS"),
        ({"QRPASS_ENV": "staging"}, "QRPASS_ENV"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ],
)
def test_bad_setting_stops_startup_naming_the_variable(tmp_path, env, variable) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "token_service"], env=base_env(tmp_path, **env),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert variable in result.stderr


def test_production_refuses_development_key(tmp_path) -> None:
    env = base_env(tmp_path)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    keyfiles.generate_key(tmp_path / "keys", development=True)
    result = subprocess.run(
        [sys.executable, "-m", "token_service"], env={**env, "QRPASS_ENV": "production"},
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "development key" in result.stderr


def test_unmigrated_database_stops_startup(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "token_service"], env=base_env(tmp_path),
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "qrpass db upgrade" in result.stderr


def test_expected_kind_student_constant_is_one() -> None:
    assert STUDENT == 1  # the HTTP gateway's "student" maps here; a renumbering would break it
