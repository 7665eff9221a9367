"""Key rotation, removed keys, HS256, lifetimes and start-up checks, on a real token service."""

from __future__ import annotations

import subprocess
import sys
import time

import grpc
import pytest

from qrpass.token.v1 import token_service_pb2 as pb
from tests.conftest import STUDENT, students_csv
from tests.support.metrics import value
from tests.support.services import base_env, run_cli
from token_service import keyfiles

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


def _metrics_url(client) -> str:
    return f"http://127.0.0.1:{client.service.metrics_port}/metrics"


def test_removing_the_new_active_key_stops_it_at_once_and_signing_falls_back(
    start_token_service,
) -> None:
    """`keys rotate`, then `rm <new kid>.pem`: the deleted key neither signs nor verifies."""
    client = start_token_service()
    client.import_csv(students_csv(3))
    old_kid = client.issue("S00001").kid
    assert run_cli(["keys", "rotate"], client.env, client.service.workdir).returncode == 0
    new_kid = keyfiles.read_active(client.keys_dir)
    _wait_for(lambda: client.rotate("S00002").kid == new_kid)
    signed_by_new = client.issue("S00002").token
    assert client.verify(signed_by_new).valid

    (client.keys_dir / f"{new_kid}.pem").unlink()
    started = time.monotonic()
    _wait_for(lambda: client.verify(signed_by_new).failure_reason == R.FAILURE_REASON_UNKNOWN_KEY)
    assert time.monotonic() - started < 2.0
    assert client.rotate("S00003").kid == old_kid  # the newest remaining key signs
    reissued = client.issue("S00002")  # a pass signed by the removed key is re-signed
    assert reissued.kid == old_kid and client.verify(reissued.token).valid
    assert new_kid not in {k.kid for k in client.stub.GetJwks(pb.GetJwksRequest()).keys}
    assert value(_metrics_url(client), "qrpass_token_active_key_missing") == 1  # alert fires
    assert "the active key has no usable file" in client.service.logs()


def test_a_pinned_active_key_that_is_removed_fails_issuing_by_name(start_token_service) -> None:
    client = start_token_service()
    kid = keyfiles.list_kids(client.keys_dir)[0]
    client.close()
    client = start_token_service(QRPASS_KEYS_DIR=str(client.keys_dir), QRPASS_ACTIVE_KID=kid)
    client.import_csv(students_csv(1))
    token = client.issue("S00001").token
    (client.keys_dir / f"{kid}.pem").unlink()
    _wait_for(lambda: client.verify(token).failure_reason == R.FAILURE_REASON_UNKNOWN_KEY)
    for call in (lambda: client.rotate("S00001"), lambda: client.issue("S00001")):
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert kid in refused.value.details()
    assert value(_metrics_url(client), "qrpass_token_active_key_missing") == 1


def test_a_malformed_key_file_is_skipped_and_later_changes_still_apply(start_token_service) -> None:
    client = start_token_service()
    client.import_csv(students_csv(2))
    old = client.issue("S00001")
    (client.keys_dir / "broken.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    _wait_for(lambda: value(_metrics_url(client), "qrpass_token_key_files_skipped") == 1)
    assert "skipping a key file that cannot be loaded" in client.service.logs()
    assert client.verify(old.token).valid  # the good key keeps working
    # A later change applies despite the broken file: a new key becomes the signer.
    assert run_cli(["keys", "rotate"], client.env, client.service.workdir).returncode == 0
    new_kid = keyfiles.read_active(client.keys_dir)
    _wait_for(lambda: client.rotate("S00002").kid == new_kid)
    # ...and removing the old key still stops it.
    (client.keys_dir / f"{old.kid}.pem").unlink()
    _wait_for(lambda: client.verify(old.token).failure_reason == R.FAILURE_REASON_UNKNOWN_KEY)


def test_production_never_loads_a_development_key(tmp_path) -> None:
    from tests.support.services import ServiceProcess

    env = base_env(tmp_path, QRPASS_ENV="production", QRPASS_GRPC_PLAINTEXT="mesh")
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    keys = tmp_path / "keys"
    dev_kid = keyfiles.generate_key(keys, development=True)
    prod_kid = keyfiles.generate_key(keys)
    keyfiles.set_active(keys, prod_kid)
    dev_signed = _sign_with(keys / f"{dev_kid}.pem", dev_kid)
    service = ServiceProcess("token_service", env, tmp_path).start()
    from tests.conftest import RunningTokenService

    client = RunningTokenService(service)
    try:
        client.import_csv(students_csv(1))
        assert {k.kid for k in client.stub.GetJwks(pb.GetJwksRequest()).keys} == {prod_kid}
        assert client.verify(dev_signed).failure_reason == R.FAILURE_REASON_UNKNOWN_KEY
        assert client.issue("S00001").kid == prod_kid
        keyfiles.set_active(keys, dev_kid)  # pointing the signer at a dev key does not load it
        time.sleep(1.5)
        assert client.rotate("S00001").kid == prod_kid
        assert (
            value(
                f"http://127.0.0.1:{service.metrics_port}/metrics",
                "qrpass_token_active_key_missing",
            )
            == 1
        )
    finally:
        client.close()


def _sign_with(pem, kid: str) -> str:
    """A well-formed pass signed by the key in `pem`, as a copied development key would sign."""
    import jwt
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    claims = {"sub": "S00001", "kind": "student", "ver": 1, "iat": int(time.time()),
              "iss": "qrpass", "aud": "qrpass-gate"}  # fmt: skip
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


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


def test_setting_a_lifetime_expires_passes_signed_without_one(tmp_path) -> None:
    """Static passes, then JWT_TTL_SECONDS: the old passes verify as expired and are re-signed."""
    from tests.conftest import RunningTokenService
    from tests.support.services import ServiceProcess

    env = base_env(tmp_path)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    static = RunningTokenService(ServiceProcess("token_service", env, tmp_path).start())
    try:
        static.import_csv(students_csv(2))
        old = static.issue("S00001").token
        assert static.verify(old).valid
    finally:
        static.close()
    timed = RunningTokenService(
        ServiceProcess("token_service", env | {"JWT_TTL_SECONDS": "3600"}, tmp_path).start()
    )
    try:
        assert timed.verify(old).failure_reason == R.FAILURE_REASON_EXPIRED
        fresh = timed.issue("S00001")
        assert fresh.token != old and fresh.version == 1
        assert timed.verify(fresh.token).valid
        assert timed.verify(old).failure_reason == R.FAILURE_REASON_EXPIRED
    finally:
        timed.close()


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
        [sys.executable, "-m", "token_service"],
        env={**env, "QRPASS_ENV": "production", "QRPASS_GRPC_PLAINTEXT": "mesh"},
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
