"""The HTTP contract end to end: passes that scan, verify, ETags, errors and the seed JSON shape."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
import uuid

import httpx
import jwt
import pytest

from tests.conftest import LEGACY_SECRET
from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, Stack
from tests.support.qr import decode_png, decode_svg
from tests.support.route_contract import assert_access, assert_documented, auth_cases
from tests.support.services import ServiceProcess
from token_service.tokens import legacy_checksum


def _problem(reply, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body = reply.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status and body["detail"]
    return body


@pytest.mark.parametrize(("kind", "subject_id"), [("students", "S00001"), ("stalls", "T002")])
def test_seed_compatible_json_pass_scans(stack: Stack, kind: str, subject_id: str) -> None:
    reply = stack.get(f"/v1/{kind}/{subject_id}/qr")
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"success", "qr_token", "qr_image", "cached"}
    assert body["success"] is True
    prefix = "data:image/png;base64,"
    assert body["qr_image"].startswith(prefix)
    assert decode_png(base64.b64decode(body["qr_image"][len(prefix) :])) == body["qr_token"]
    assert stack.get(f"/v1/{kind}/{subject_id}/qr").json()["cached"] is True


def test_png_and_svg_scan_with_options(stack: Stack) -> None:
    token = stack.get("/v1/students/S00002/qr").json()["qr_token"]
    png = stack.get("/v1/students/S00002/qr.png", params={"scale": 3, "ec": "H", "dark": "102030"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert decode_png(png.content) == token
    svg = stack.get("/v1/stalls/T001/qr.svg", params={"border": 2})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    stall_token = stack.get("/v1/stalls/T001/qr").json()["qr_token"]
    assert decode_svg(svg.content) == stall_token


def test_etag_and_304(stack: Stack) -> None:
    first = stack.get("/v1/students/S00003/qr.png")
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in first.headers["cache-control"]
    again = stack.get("/v1/students/S00003/qr.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = stack.get("/v1/students/S00003/qr.png", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200
    assert stack.get("/v1/students/S00003/qr.png", params={"scale": 4}).headers["etag"] != etag


def test_verify_valid_tampered_revoked_and_legacy(stack: Stack) -> None:
    token = stack.get("/v1/students/S00004/qr").json()["qr_token"]
    valid = stack.request("POST", "/v1/verify", json={"token": token, "expected_kind": "student"})
    assert valid.json() == {"valid": True, "kind": "student", "subject_id": "S00004",
                            "student_id": "S00004", "registration_no": "R0000004",
                            "name": "Student 4", "error": None}  # fmt: skip
    # The original's field names, which scanner code written against it reads.
    stall = stack.get("/v1/stalls/T001/qr").json()["qr_token"]
    stall_verdict = stack.request("POST", "/v1/verify", json={"token": stall}).json()
    assert (stall_verdict["stall_id"], stall_verdict["subject_id"]) == ("T001", "T001")
    assert "student_id" not in stall_verdict

    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    bad = stack.request("POST", "/v1/verify", json={"token": tampered}).json()
    assert (bad["valid"], bad["error"]) == (False, "bad_signature")

    wrong = stack.request("POST", "/v1/verify", json={"token": token, "expected_kind": "stall"})
    assert wrong.json()["error"] == "wrong_kind"

    rotated = stack.request("POST", "/v1/admin/students/S00004/qr:rotate", ADMIN_KEY)
    assert rotated.status_code == 200 and rotated.json()["qr_token"] != token
    revoked = stack.request("POST", "/v1/verify", json={"token": token}).json()
    assert (revoked["valid"], revoked["error"], revoked["subject_id"]) == (
        False,
        "revoked",
        "S00004",
    )

    legacy = jwt.encode(
        {"type": "STALL", "stall_id": "T003", "stall_number": "A-3", "school_id": 9,
         "checksum": legacy_checksum("T003", "A-3", LEGACY_SECRET), "iat": 1700000000},
        LEGACY_SECRET, algorithm="HS256",
    )  # fmt: skip
    stall = stack.request("POST", "/v1/verify", json={"token": legacy}).json()
    assert stall == {"valid": True, "kind": "stall", "subject_id": "T003", "stall_id": "T003",
                     "stall_number": "A-3", "name": "Stall 3", "error": None}  # fmt: skip
    garbage = stack.request("POST", "/v1/verify", json={"token": "not a token"}).json()
    assert garbage == {"valid": False, "kind": None, "subject_id": None, "error": "malformed"}


def test_jwks_is_public(stack: Stack) -> None:
    reply = stack.get("/v1/jwks", key=None)
    assert reply.status_code == 200
    (key,) = reply.json()["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}


def test_import_raw_multipart_and_rejections(stack: Stack) -> None:
    csv = b"id,stall_number,name\nM1,M-1,Market\n"
    multipart = stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY,
                              files={"file": ("stalls.csv", csv, "text/csv")})  # fmt: skip
    assert multipart.status_code == 200
    assert multipart.json() == {"created": 1, "updated": 0, "unchanged": 0}
    bad = stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY,
                        content=b"id,stall_number,name\nM2,M-2,Ok\nbad id,,x\n",
                        headers={"Content-Type": "text/csv"})  # fmt: skip
    body = _problem(bad, 422)
    assert {"line": 3, "field": "id", "reason": "id must match [A-Za-z0-9_-]{1,64}"} in body[
        "errors"
    ]
    assert stack.get("/v1/stalls/M2/qr").status_code == 404  # nothing was written
    empty = stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY, content=b"",
                          headers={"Content-Type": "text/csv"})  # fmt: skip
    assert "empty" in _problem(empty, 400)["detail"]
    _problem(stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY, content=b"{}",
                           headers={"Content-Type": "application/json"}), 415)  # fmt: skip


def test_delete_then_pass_is_404(stack: Stack) -> None:
    token = stack.get("/v1/students/S00020/qr").json()["qr_token"]
    assert stack.request("DELETE", "/v1/admin/students/S00020", ADMIN_KEY).status_code == 204
    _problem(stack.get("/v1/students/S00020/qr"), 404)
    _problem(stack.request("DELETE", "/v1/admin/students/S00020", ADMIN_KEY), 404)
    assert (
        stack.request("POST", "/v1/verify", json={"token": token}).json()["error"]
        == "subject_not_found"
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "words"),
    [
        ("GET", "/v1/students/bad%20id/qr", {}, 400, "id must match"),
        ("GET", "/v1/teachers/S1/qr", {}, 404, "no route"),
        ("DELETE", "/v1/admin/cache/stats", {}, 405, "not allowed"),
        ("GET", "/v1/students/NOBODY/qr", {}, 404, "NOBODY"),
        ("GET", "/v1/nowhere", {}, 404, "no route"),
        ("PUT", "/v1/verify", {}, 405, "not allowed"),
        ("GET", "/v1/students/S00001/qr.png", {"params": {"scale": "0"}}, 400, "scale"),
        ("GET", "/v1/students/S00001/qr.png", {"params": {"scale": "2"}}, 400, "from 3 to"),
        (
            "GET",
            "/v1/students/S00001/qr.png",
            {"params": {"dark": "ffffff", "light": "000000"}},
            400,
            "darker than light",
        ),
        ("GET", "/v1/students/S00001/qr.png", {"params": {"scale": "900"}}, 400, "4096 px"),
        ("GET", "/v1/students/S00001/qr.png", {"params": {"ec": "Z"}}, 400, "ec must be"),
        ("GET", "/v1/students/S00001/qr.png", {"params": {"dark": "#000"}}, 400, "dark"),
        ("GET", "/v1/students/S00001/qr.png", {"params": {"scal": "3"}}, 400, "unknown query"),
        ("POST", "/v1/verify", {"content": b"{not json"}, 400, "JSON object"),
        ("POST", "/v1/verify", {"json": {"token": 5}}, 400, "token"),
        (
            "POST",
            "/v1/verify",
            {"json": {"token": "a.b.c", "expected_kind": "x"}},
            400,
            "expected_kind",
        ),
        ("POST", "/v1/verify", {"json": {"token": "a" * 5000}}, 400, "4096"),
        ("POST", "/v1/verify", {"content": b"[" * 100_000 + b"]" * 100_000}, 413, "larger"),
        ("POST", "/v1/verify", {"content": b"[" * 5000 + b"]" * 5000}, 400, "JSON object"),
    ],
)
def test_errors_are_problem_json(stack: Stack, method, path, kwargs, status, words) -> None:
    body = _problem(stack.request(method, path, **kwargs), status)
    assert words in body["detail"]


def test_request_id_is_returned_and_generated(stack: Stack) -> None:
    given = stack.get("/healthz", headers={"X-Request-Id": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    made = stack.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert (
        made.headers["x-request-id"] != "bad id with spaces"
        and len(made.headers["x-request-id"]) == 32
    )


def test_auth_matrix_over_every_route(stack: Stack) -> None:
    """Built from the app's own route rows, so a new route cannot escape it."""
    for case in auth_cases():
        reply = stack.http.request(case.method, case.path, headers=case.headers, content=b"{}")
        assert_access(case, reply)


def test_openapi_documents_every_route_and_its_access_level(stack: Stack) -> None:
    assert_documented(stack.get("/openapi.json", key=None).json())


def test_readyz_and_metrics(stack: Stack) -> None:
    assert stack.get("/v1/students/S00007/qr").status_code == 200
    ready = stack.get("/readyz", key=None).json()
    assert ready["status"] == "ready"
    assert ready["backends"] == {"token_service": "serving", "image_service": "serving"}
    text = stack.get("/metrics", key=None).text
    assert 'http_requests_total{method="GET",route="/v1/{kind}/{id}/qr",status="200"}' in text
    assert "http_request_duration_seconds_bucket" in text and 'le="0.0005"' in text
    assert "http_requests_in_flight" in text
    # A pass is a hit, or a miss answered with the image alone: either way RenderQrCodes ran.
    assert 'grpc_client_handled_total{grpc_code="OK",grpc_method="RenderQrCodes"' in text


def test_no_secret_in_logs(stack: Stack) -> None:
    stack.get("/v1/students/S00006/qr")
    logs = "".join(p.read_text() for p in stack.workdir.glob("*.log"))
    assert CLIENT_KEY not in logs and ADMIN_KEY not in logs
    assert json.loads(logs.splitlines()[0])  # JSON lines


def test_doctor_passes_against_the_running_stack(stack: Stack) -> None:
    from tests.support.services import run_cli

    result = run_cli(["doctor", "--gateway", stack.url], stack.env, stack.workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line[:1] in ("✅", "❌")]
    assert len(lines) == 10 and all(line.startswith("✅") for line in lines), result.stdout
    assert " ms " in lines[0]
    assert "all checks passed" in result.stdout


def test_oversized_headers_get_431_without_buffering(stack: Stack) -> None:
    import socket

    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
        )
        sock.settimeout(5)
        assert sock.recv(100).startswith(b"HTTP/1.1 431 ")
    assert stack.get("/healthz", headers={"X-Fine": "a" * 8000}).status_code == 200


def test_huge_import_is_refused_early_with_or_without_length(stack: Stack) -> None:
    big = b"id,stall_number,name\n" + b"T1,A-1,Stall\n" * 4_000_000  # about 52 MB
    declared = stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY, content=big,
                             headers={"Content-Type": "text/csv"})  # fmt: skip
    assert "larger than" in _problem(declared, 413)["detail"]

    def chunks():
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    streamed = stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY, content=chunks(),
                             headers={"Content-Type": "text/csv"})  # fmt: skip
    _problem(streamed, 413)


def test_zip_bomb_and_wrong_columns_are_clear_errors(stack: Stack) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b"a" * (300 * 1024 * 1024))
    assert len(buffer.getvalue()) < 1024 * 1024
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    bomb = stack.request("POST", "/v1/admin/import/students", ADMIN_KEY, content=buffer.getvalue(),
                         headers={"Content-Type": xlsx})  # fmt: skip
    assert "unpacks to more than" in _problem(bomb, 400)["detail"]
    columns = stack.request("POST", "/v1/admin/import/students", ADMIN_KEY,
                            content=b"id,name\nS1,Ann\n", headers={"Content-Type": "text/csv"})  # fmt: skip
    assert "registration_no" in _problem(columns, 400)["detail"]


def test_csv_injection_cells_are_stored_as_plain_text(stack: Stack) -> None:
    formula = "=cmd|' /C calc'!A0"
    content = f'id,stall_number,name\nINJ1,"+1+1","{formula}"\n'.encode()
    reply = stack.request("POST", "/v1/admin/import/stalls", ADMIN_KEY, content=content,
                          headers={"Content-Type": "text/csv"})  # fmt: skip
    assert reply.status_code == 200
    token = stack.get("/v1/stalls/INJ1/qr").json()["qr_token"]
    verdict = stack.request("POST", "/v1/verify", json={"token": token}).json()
    assert (verdict["name"], verdict["stall_number"]) == (formula, "+1+1")


def test_every_metrics_endpoint_negotiates_openmetrics(stack: Stack) -> None:
    """Prometheus asks for OpenMetrics first; the gateway answers as the services do."""
    ports = (stack.env["TOKEN_METRICS_PORT"], stack.env["IMAGE_METRICS_PORT"])
    urls = [f"{stack.url}/metrics", *(f"http://127.0.0.1:{port}/metrics" for port in ports)]
    openmetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    for url in urls:
        negotiated = httpx.get(url, headers={"Accept": openmetrics}, timeout=5)
        assert negotiated.headers["content-type"].startswith("application/openmetrics-text"), url
        assert negotiated.text.endswith("# EOF\n"), url
        plain = httpx.get(url, timeout=5)
        assert plain.headers["content-type"].startswith("text/plain"), url
        assert "# EOF" not in plain.text, url


def _access_lines(logs: str, request_id: str) -> list[dict]:
    lines = (json.loads(line) for line in logs.splitlines() if line.startswith("{"))
    return [e for e in lines if e["logger"] == "qrpass.access" and e["request_id"] == request_id]


def test_access_log_line_per_request_names_route_and_key_never_token(stack: Stack) -> None:
    """Answers "who fetched this pass, how long did it take, what did we answer" from the log."""
    digest = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()
    requests = [  # (request id, method, path, key, status, route template)
        (f"log-miss-{uuid.uuid4().hex}", "GET", "/v1/students/S00011/qr", CLIENT_KEY, 200,
         "/v1/{kind}/{id}/qr"),
        (f"log-hit-{uuid.uuid4().hex}", "GET", "/v1/students/S00011/qr", CLIENT_KEY, 200,
         "/v1/{kind}/{id}/qr"),
        (f"log-png-{uuid.uuid4().hex}", "GET", "/v1/students/S00011/qr.png", CLIENT_KEY, 200,
         "/v1/{kind}/{id}/qr.png"),
        (f"log-bad-{uuid.uuid4().hex}", "GET", "/v1/students/S00011/qr", None, 401,
         "/v1/{kind}/{id}/qr"),
        (f"log-none-{uuid.uuid4().hex}", "GET", "/v1/nothing/here", None, 404, "unmatched"),
    ]  # fmt: skip
    replies = [
        stack.request(method, path, key, headers={"X-Request-Id": rid})
        for rid, method, path, key, _, _ in requests
    ]
    token = replies[0].json()["qr_token"]
    logs = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = (stack.workdir / "up.log").read_text()
        if all(_access_lines(logs, rid) for rid, *_ in requests):
            break
        time.sleep(0.1)
    for (rid, method, _, key, status, route), reply in zip(requests, replies, strict=True):
        assert reply.status_code == status
        [entry] = _access_lines(logs, rid)
        assert (entry["method"], entry["route"], entry["status"]) == (method, route, status)
        assert entry["bytes"] == int(reply.headers["content-length"]) and entry["duration_ms"] > 0
        # Only a key that passed is named, by the prefix of its sha256, never in full.
        expected_key = f"sha256:{digest[:8]}" if key == CLIENT_KEY and status == 200 else None
        assert entry["key_id"] == expected_key
    assert token not in logs and "S00011" not in logs and digest not in logs


def test_access_log_off_writes_no_line(stack: Stack, tmp_path) -> None:
    quiet = ServiceProcess("gateway", stack.env | {"QRPASS_ACCESS_LOG": "off"}, tmp_path).start()
    try:
        with httpx.Client(base_url=quiet.url, timeout=10) as http:
            headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
            assert http.get("/v1/students/S00012/qr", headers=headers).status_code == 200
            assert http.get("/v1/students/S00012/qr", headers=headers).status_code == 200
    finally:
        quiet.stop()
    logs = quiet.logs()
    assert "gateway listening" in logs  # it logged, just not the requests
    assert "qrpass.access" not in logs


def test_json_passes_are_gzipped_on_miss_and_hit_and_images_never(stack: Stack) -> None:
    """gzip when the client accepts it, from the route on a miss and from the near-cache on a
    hit; the decompressed pass still scans. A PNG is sent as it is."""
    gzip_ok = {"Accept-Encoding": "gzip"}
    replies = []
    for _ in range(2):  # the first fills the near-cache, the second is served from it
        with stack.http.stream("GET", "/v1/students/S00013/qr", headers={
                "Authorization": f"Bearer {CLIENT_KEY}", **gzip_ok}) as reply:  # fmt: skip
            raw = b"".join(reply.iter_raw())
        assert reply.headers["content-encoding"] == "gzip", reply.headers
        assert reply.headers["vary"] == "Accept-Encoding"
        assert int(reply.headers["content-length"]) == len(raw)
        replies.append(json.loads(gzip.decompress(raw)))
    # The first is a hit too when the gateway filled the pass before it was asked.
    assert replies[1]["cached"] is True
    plain = stack.get("/v1/students/S00013/qr", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json()["qr_token"] == replies[1]["qr_token"] == replies[0]["qr_token"]
    assert len(raw) < len(plain.content) * 0.85  # base64 of a PNG: about a quarter smaller
    image = replies[1]["qr_image"].removeprefix("data:image/png;base64,")
    assert decode_png(base64.b64decode(image)) == replies[1]["qr_token"]
    with stack.http.stream("GET", "/v1/students/S00013/qr.png", headers={
            "Authorization": f"Bearer {CLIENT_KEY}", **gzip_ok}) as png:  # fmt: skip
        assert "content-encoding" not in png.headers
        assert decode_png(b"".join(png.iter_raw())) == replies[1]["qr_token"]


def test_admin_invalidate_drops_one_pass_images_and_checks_its_body(stack: Stack) -> None:
    token = stack.get("/v1/students/S00014/qr").json()["qr_token"]
    variant = stack.get("/v1/students/S00014/qr.png", params={"scale": 3})
    assert decode_png(variant.content) == token
    invalidate = "/v1/admin/cache:invalidate"
    reply = stack.request("POST", invalidate, ADMIN_KEY, json={"token": token})
    # The variant, and the default PNG unless an earlier test cleared Redis after this gateway
    # filled the pass (its near-cache then answers without rendering it again).
    assert reply.status_code == 200 and reply.json()["deleted"] in (1, 2)
    assert stack.request("POST", invalidate, ADMIN_KEY, json={"token": token}).json() == {
        "deleted": 0}  # fmt: skip
    again = stack.get("/v1/students/S00014/qr.png", params={"scale": 3})
    assert decode_png(again.content) == token  # rendered anew
    assert stack.request("POST", invalidate, CLIENT_KEY, json={"token": token}).status_code == 403
    for body, words in (({}, "token"), ({"token": ""}, "non-empty"), ({"token": 7}, "string"),
                        ({"token": "x" * 5000}, "longer than 4096"),
                        ({"token": token, "gate": "A"}, 'the body must be {"token"')):  # fmt: skip
        bad = stack.request("POST", invalidate, ADMIN_KEY, json=body)
        assert words in _problem(bad, 400)["detail"], (body, bad.text)
