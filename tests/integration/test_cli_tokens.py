"""The operator CLI against a real token service: exit codes and what it prints."""

from __future__ import annotations

from tests.conftest import students_csv
from tests.support.services import run_cli


def _cli_env(client) -> dict[str, str]:
    return {**client.env, "TOKEN_SERVICE_ADDR": client.service.address}


def test_import_verify_rotate_delete(start_token_service, tmp_path) -> None:
    client = start_token_service()
    env = _cli_env(client)
    path = tmp_path / "students.csv"
    path.write_bytes(students_csv(5))
    imported = run_cli(["import", "students", str(path)], env, tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "5 created" in imported.stdout

    token = client.issue("S00002").token
    verified = run_cli(["verify", token], env, tmp_path)
    assert verified.returncode == 0
    assert "valid: student S00002 (R0000002, Student 2)" in verified.stdout

    rotated = run_cli(["rotate", "student", "S00002"], env, tmp_path)
    assert rotated.returncode == 0 and "version 2" in rotated.stdout
    revoked = run_cli(["verify", token], env, tmp_path)
    assert revoked.returncode == 1 and "revoked" in revoked.stderr

    assert run_cli(["delete", "student", "S00002"], env, tmp_path).returncode == 0
    missing = run_cli(["delete", "student", "S00002"], env, tmp_path)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


def test_rejected_import_exits_1_with_lines(start_token_service, tmp_path) -> None:
    client = start_token_service()
    path = tmp_path / "bad.csv"
    path.write_text("id,registration_no,name,email\nok1,R1,A,a@b.io\n???,R2,B,b@b.io\n")
    result = run_cli(["import", "students", str(path)], _cli_env(client), tmp_path)
    assert result.returncode == 1
    assert "line 3 [id]" in result.stdout and "nothing written" in result.stdout


def test_usage_errors_exit_2_and_unreachable_service_exits_1(tmp_path) -> None:
    from tests.support.services import base_env

    env = {**base_env(tmp_path), "TOKEN_SERVICE_ADDR": "127.0.0.1:1"}
    assert run_cli(["rotate", "teacher", "x"], env, tmp_path).returncode == 2
    assert run_cli([], env, tmp_path).returncode == 2
    down = run_cli(["verify", "a.b.c"], env, tmp_path, timeout=60)
    assert down.returncode == 1 and "unavailable" in down.stderr
