"""Hostile HTTP clients: arbitrary unicode everywhere, guessed keys, slow and half-open
connections. Each is a 4xx with a message, a closed connection, or a wait, never a 5xx."""

from __future__ import annotations

import resource
import socket
import time
import urllib.parse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.auth import FAILED_ATTEMPTS_PER_MINUTE
from gateway.protocol import HEAD_TIMEOUT_SECONDS
from gateway.route_table import ROUTES
from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, Stack
from tests.support.services import ServiceProcess, stack_env

# Every query parameter any route reads, plus names no route knows.
QUERY_NAMES = ("scale", "border", "ec", "dark", "light", "since", "page_size", "kind", "x")
JSON_FIELDS = ("token", "expected_kind", "kind", "id", "gate")
TEXT = st.text(max_size=40)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], object]:
    route = draw(st.sampled_from(ROUTES))
    method, path = route.method, route.path
    for name in ("{kind}", "{id}"):
        if name in path:
            segment = draw(st.one_of(st.just("students"), st.just("S00001"), TEXT))
            path = path.replace(name, urllib.parse.quote(segment, safe="") or "x")
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), TEXT, max_size=3))
    body = draw(
        st.one_of(
            st.dictionaries(
                st.sampled_from(JSON_FIELDS), st.one_of(TEXT, st.integers()), max_size=3
            ),
            TEXT,
            st.lists(TEXT, max_size=2),
        )
    )
    return method, path, query, body


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=requests())
def test_arbitrary_unicode_in_every_route_is_never_a_5xx(stack: Stack, request) -> None:
    method, path, query, body = request
    reply = stack.http.request(
        method, path, params=query, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert reply.status_code < 500, (method, path, query, body, reply.text)
    if reply.status_code >= 400:
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["detail"]


@pytest.mark.parametrize("value", ["²", "٣", "１", "-1", "1e3", " 6", "99999999999999999999999"])
def test_numeric_parameters_take_ascii_digits_only(stack: Stack, value: str) -> None:
    for name in ("scale", "border"):
        reply = stack.get(f"/v1/students/S00001/qr.png?{name}={urllib.parse.quote(value)}")
        assert reply.status_code == 400, reply.text
        assert name in reply.json()["detail"]


@pytest.fixture
def lone_gateway(tmp_path):
    """A gateway with no backends: authentication and connection handling come first."""
    env = stack_env(tmp_path, "sqlite:///unused.db", "redis://127.0.0.1:1/0")
    gateway = ServiceProcess("gateway", env, tmp_path).start()
    yield gateway
    gateway.stop()


def test_wrong_keys_are_rate_limited_per_address(lone_gateway) -> None:
    with httpx.Client(base_url=lone_gateway.url, timeout=5) as http:
        wrong = {"Authorization": "Bearer guess-0000000000000000000"}
        for _ in range(FAILED_ATTEMPTS_PER_MINUTE):
            assert http.get("/v1/students/S00001/qr", headers=wrong).status_code == 401
        blocked = http.post("/v1/verify", json={"token": "x"}, headers=wrong)
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        assert "wrong API keys" in blocked.json()["detail"]
        # Even a right key waits: otherwise a guess that succeeds would still be told apart.
        right = http.get(
            "/v1/students/S00001/qr", headers={"Authorization": f"Bearer {CLIENT_KEY}"}
        )
        assert right.status_code == 429
        assert http.get("/healthz").status_code == 200  # public routes take no key


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(HEAD_TIMEOUT_SECONDS + 10)
    return sock


def test_a_slow_head_is_cut_off_and_an_idle_connection_closed(lone_gateway) -> None:
    slow, idle = _connect(lone_gateway.port), _connect(lone_gateway.port)
    started = time.monotonic()
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    answer = slow.recv(4096)
    assert b"408 Request Timeout" in answer
    assert idle.recv(4096) == b""  # closed without a word: it never said anything
    assert time.monotonic() - started < HEAD_TIMEOUT_SECONDS + 5
    slow.close()
    idle.close()


def test_two_thousand_half_open_connections_do_not_stop_a_normal_request(lone_gateway) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    half_open = []
    try:
        for _ in range(2000):
            sock = _connect(lone_gateway.port)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            half_open.append(sock)
        with httpx.Client(base_url=lone_gateway.url, timeout=5) as http:
            assert http.get("/healthz").status_code == 200
        # ...and the gateway lets them all go once their time is up.
        closed = sum(1 for sock in half_open if b"408" in sock.recv(4096))
        assert closed == 2000
    finally:
        for sock in half_open:
            sock.close()
