"""The gRPC authorization policy: its matching rules, its refusals, the shipped policy, and the
settings that make production serve mTLS with a policy (or say a mesh does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qrpass.core.authz import AuthzPolicy
from qrpass.core.config import CommonSettings, ConfigError, Env
from qrpass.core.grpc_server import GrpcServerSettings
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.token.v1 import token_service_pb2 as token_pb

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = AuthzPolicy.load(ROOT / "deploy/k8s/grpc-authz-policy.json")
TOKEN = "/qrpass.token.v1.TokenService/"
IMAGE = "/qrpass.image.v1.ImageService/"


def _policy(**document: object) -> AuthzPolicy:
    return AuthzPolicy.parse(json.dumps({"name": "p", **document}))


def test_deny_rules_win_and_nothing_is_allowed_unless_a_rule_says_so() -> None:
    policy = _policy(
        allow_rules=[{"name": "ops", "source": {"principals": ["spiffe://qrpass/*"]}}],
        deny_rules=[
            {"name": "no-import", "request": {"paths": ["*/ImportSubjects"]}},
        ],
    )
    assert policy.decide("spiffe://qrpass/ops", TOKEN + "RotateToken").allowed
    denied = policy.decide("spiffe://qrpass/ops", TOKEN + "ImportSubjects")
    assert (denied.allowed, denied.rule) == (False, "no-import")
    assert not policy.decide("spiffe://other/ops", TOKEN + "RotateToken").allowed
    assert not policy.decide(None, TOKEN + "RotateToken").allowed


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("spiffe://qrpass/gateway", "spiffe://qrpass/gateway", True),
        ("spiffe://qrpass/gateway", "spiffe://qrpass/gateway2", False),
        ("spiffe://qrpass/*", "spiffe://qrpass/warm", True),
        ("*.qrpass.svc", "token.qrpass.svc", True),
        ("*.qrpass.svc", "token.qrpass.svc.evil", False),
        ("*", "anything", True),
    ],
)
def test_principal_patterns(pattern: str, value: str, matches: bool) -> None:
    policy = _policy(allow_rules=[{"name": "r", "source": {"principals": [pattern]}}])
    assert policy.decide(value, TOKEN + "VerifyToken").allowed is matches


def test_presence_needs_an_identity_and_a_rule_without_source_needs_none() -> None:
    present = _policy(allow_rules=[{"name": "r", "source": {"principals": ["*"]}}])
    assert not present.decide(None, TOKEN + "VerifyToken").allowed
    anyone = _policy(allow_rules=[{"name": "r", "request": {"paths": [TOKEN + "GetJwks"]}}])
    assert anyone.decide(None, TOKEN + "GetJwks").allowed
    assert not anyone.decide(None, TOKEN + "VerifyToken").allowed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"allow_rules": []}, "at least one allow rule"),
        ({"allow_rules": [{"name": "r", "request": {"headers": []}}]}, "headers"),
        ({"allow_rules": [{"name": "r", "source": {"principals": "x"}}]}, "list"),
        ({"allow_rules": [{"source": {}}]}, "name"),
        ({"allow_rules": [{"name": "r"}], "audit_logging_options": {}}, "audit_logging"),
    ],
)
def test_a_policy_qrpass_cannot_enforce_exactly_is_refused(document: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _policy(**document)


def test_the_shipped_policy_gives_each_caller_what_it_uses_and_nothing_else() -> None:
    gateway_token = {"IssueToken", "VerifyToken", "RotateToken", "DeleteSubject",
                     "ImportSubjects", "GetJwks", "WatchSubjectChanges", "CheckIn", "BatchCheckIn",
                     "ListScans", "PruneScans", "ListRevocations"}  # fmt: skip
    gateway_image = {
        "RenderQrCode",
        "RenderQrCodes",
        "GetCacheStats",
        "InvalidateQrCodes",
        "ClearCache",
    }
    token_methods = set(token_pb.DESCRIPTOR.services_by_name["TokenService"].methods_by_name)
    image_methods = set(image_pb.DESCRIPTOR.services_by_name["ImageService"].methods_by_name)
    expected = {
        "spiffe://qrpass/gateway": (gateway_token, gateway_image),
        "spiffe://qrpass/warm": ({"ListTokens"}, {"WarmQrCodes"}),
        "spiffe://qrpass/image-service": (set(), set()),
        "spiffe://qrpass/token-service": (set(), set()),
        None: (set(), set()),
    }
    for principal, (token_allowed, image_allowed) in expected.items():
        for prefix, methods, allowed in (
            (TOKEN, token_methods, token_allowed),
            (IMAGE, image_methods, image_allowed),
        ):
            granted = {m for m in methods if SHIPPED.decide(principal, prefix + m).allowed}
            assert granted == allowed, principal


def _grpc_settings(environ: dict[str, str]) -> GrpcServerSettings:
    env = Env(environ)
    return GrpcServerSettings.from_env(env, CommonSettings.from_env(env))


def test_production_refuses_plaintext_grpc_or_a_missing_policy(tmp_path) -> None:
    for name in ("cert", "key", "ca"):
        (tmp_path / name).write_text("-")
    tls = {"QRPASS_TLS_CERT_FILE": str(tmp_path / "cert"),
           "QRPASS_TLS_KEY_FILE": str(tmp_path / "key"), "QRPASS_TLS_CA_FILE": str(tmp_path / "ca")}  # fmt: skip
    policy = {"QRPASS_GRPC_AUTHZ_POLICY_FILE": str(ROOT / "deploy/k8s/grpc-authz-policy.json")}
    production = {"QRPASS_ENV": "production"}
    with pytest.raises(ConfigError, match="mTLS"):
        _grpc_settings(production | policy)
    with pytest.raises(ConfigError, match="QRPASS_GRPC_AUTHZ_POLICY_FILE"):
        _grpc_settings(production | tls)
    secured = _grpc_settings(production | tls | policy)
    assert secured.policy is not None and not secured.reflection
    mesh = _grpc_settings(production | {"QRPASS_GRPC_PLAINTEXT": "mesh"})
    assert mesh.policy is None and not mesh.reflection
    with pytest.raises(ConfigError, match="QRPASS_GRPC_PLAINTEXT"):
        _grpc_settings(production | {"QRPASS_GRPC_PLAINTEXT": "yes"})
    with pytest.raises(ConfigError, match="pick one"):
        _grpc_settings(production | tls | {"QRPASS_GRPC_PLAINTEXT": "mesh"})
    assert _grpc_settings({}).reflection  # development keeps reflection for grpcurl


def test_a_broken_policy_file_stops_start_up(tmp_path) -> None:
    broken = tmp_path / "policy.json"
    broken.write_text('{"name": "p", "allow_rules": [')
    with pytest.raises(ConfigError, match="QRPASS_GRPC_AUTHZ_POLICY_FILE"):
        _grpc_settings({"QRPASS_GRPC_AUTHZ_POLICY_FILE": str(broken)})
