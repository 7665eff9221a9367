"""The protos' google.api.http options and the gateway's route table name the same routes."""

from __future__ import annotations

from google.api import annotations_pb2

from gateway.route_table import ROUTES
from qrpass.token.v1 import token_service_pb2 as token_pb


def test_every_http_option_is_a_gateway_route() -> None:
    service = token_pb.DESCRIPTOR.services_by_name["TokenService"]
    routes = {(route.method, route.path) for route in ROUTES}
    mapped = {}
    for method in service.methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        pattern = rule.WhichOneof("pattern")
        if pattern:
            mapped[method.name] = (pattern.upper(), getattr(rule, pattern))
    assert mapped == {
        "VerifyToken": ("POST", "/v1/verify"),
        "GetJwks": ("GET", "/v1/jwks"),
        "CheckIn": ("POST", "/v1/checkins"),
        "BatchCheckIn": ("POST", "/v1/checkins:batch"),
        "ListScans": ("GET", "/v1/admin/scans"),
        "ListRevocations": ("GET", "/v1/revocations"),
    }
    assert set(mapped.values()) <= routes
