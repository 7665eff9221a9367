"""Per-method authorization of gRPC callers, from gRPC's own authorization-policy JSON.

The policy format is the one grpc-go, grpc-java and grpc C++ read (gRFC A43), so one file
serves every language:

    {"name": "qrpass-token",
     "deny_rules":  [...],
     "allow_rules": [{"name": "gateway",
                      "source":  {"principals": ["spiffe://qrpass/gateway"]},
                      "request": {"paths": ["/qrpass.token.v1.TokenService/IssueToken"]}}]}

A call is denied if a deny rule matches, else allowed if an allow rule matches, else denied.
A rule matches when its source and its request both match; a missing part matches anything.
Strings match exactly, by prefix (`abc*`), by suffix (`*abc`), or by presence (`*`).
The caller's principal is its certificate's URI SAN (SPIFFE style), failing that its DNS SAN.
Health checks are always allowed: load balancers and kubelets carry no certificate.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from qrpass.core.config import ConfigError

log = logging.getLogger(__name__)

ALWAYS_OPEN_PREFIX = "/grpc.health.v1.Health/"
_RULE_KEYS = {"name", "source", "request"}
_SOURCE_KEYS = {"principals"}
_REQUEST_KEYS = {"paths"}


def _matches(pattern: str, value: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


@dataclass(frozen=True)
class Rule:
    name: str
    principals: tuple[str, ...] | None  # None: any caller, with or without an identity
    paths: tuple[str, ...] | None  # None: any method

    def matches(self, principal: str | None, path: str) -> bool:
        if self.principals is not None and (
            principal is None or not any(_matches(p, principal) for p in self.principals)
        ):
            return False
        return self.paths is None or any(_matches(p, path) for p in self.paths)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # the rule that decided, or "" when no rule matched


@dataclass(frozen=True)
class AuthzPolicy:
    name: str
    deny_rules: tuple[Rule, ...]
    allow_rules: tuple[Rule, ...]

    def decide(self, principal: str | None, path: str) -> Decision:
        for rule in self.deny_rules:
            if rule.matches(principal, path):
                return Decision(False, rule.name)
        for rule in self.allow_rules:
            if rule.matches(principal, path):
                return Decision(True, rule.name)
        return Decision(False, "")

    @classmethod
    def parse(cls, text: str, origin: str = "the policy") -> AuthzPolicy:
        """Parse policy JSON; anything it cannot enforce exactly is an error, never ignored."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{origin} is not JSON: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("name"), str):
            raise ConfigError(f"{origin} must be a JSON object with a string `name`")
        unknown = set(document) - {"name", "allow_rules", "deny_rules"}
        if unknown:
            raise ConfigError(f"{origin} has fields qrpass does not enforce: {sorted(unknown)}")
        if not document.get("allow_rules"):
            raise ConfigError(f"{origin} needs at least one allow rule")
        return cls(
            name=document["name"],
            deny_rules=_rules(document.get("deny_rules", []), origin, "deny_rules"),
            allow_rules=_rules(document["allow_rules"], origin, "allow_rules"),
        )

    @classmethod
    def load(cls, path: Path) -> AuthzPolicy:
        return cls.parse(path.read_text(), f"QRPASS_GRPC_AUTHZ_POLICY_FILE ({path})")


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _rules(raw: object, origin: str, field: str) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: {field} must be a list")
    rules = []
    for position, entry in enumerate(raw):
        where = f"{origin}: {field}[{position}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where} must be an object with a string `name`")
        source, request = entry.get("source", {}), entry.get("request", {})
        for part, allowed, label in (
            (entry, _RULE_KEYS, ""),
            (source, _SOURCE_KEYS, ".source"),
            (request, _REQUEST_KEYS, ".request"),
        ):
            if not isinstance(part, dict):
                raise ConfigError(f"{where}{label} must be an object")
            unknown = sorted(set(part) - allowed)
            if unknown:
                raise ConfigError(f"{where}{label} has fields qrpass does not enforce: {unknown}")
        principals = source.get("principals")
        paths = request.get("paths")
        rules.append(
            Rule(
                entry["name"],
                None if principals is None else _strings(principals, f"{where}.source.principals"),
                None if paths is None else _strings(paths, f"{where}.request.paths"),
            )
        )
    return tuple(rules)


def caller_principal(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The caller certificate's URI SAN, else its DNS SAN; None without a verified certificate."""
    auth = context.auth_context()
    for key in ("peer_uri", "peer_dns"):
        values = list(auth.get(key) or ())
        if values:
            return bytes(values[0]).decode()
    return None


# What a server interceptor is given to find the next handler (None: no such method).
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]  # the handler type is generic only to the type checker, so it stays a string here


class AuthzInterceptor(grpc.aio.ServerInterceptor):
    """Checks every call against the policy before the method runs."""

    def __init__(self, policy: AuthzPolicy) -> None:
        self._policy = policy
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        # A decision depends on (principal, method) only; callers are a handful of services.
        self._decisions: dict[tuple[str | None, str], Decision] = {}

    async def _check(self, context: grpc.aio.ServicerContext[Any, Any], path: str) -> None:
        principal = caller_principal(context)
        decision = self._decisions.get((principal, path))
        if decision is None:
            decision = self._policy.decide(principal, path)
            if len(self._decisions) < 10_000:
                self._decisions[(principal, path)] = decision
        if decision.allowed:
            return
        log.warning(
            "gRPC call refused by policy",
            extra={"method": path, "principal": principal or "", "rule": decision.rule},
        )
        if principal is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"{path} needs a client certificate that the authorization policy allows",
            )
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{principal} may not call {path}")

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        path = handler_call_details.method
        wrapped = self._wrapped.get(path)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or path.startswith(ALWAYS_OPEN_PREFIX):
            return handler
        wrapped = self._guard(handler, path)
        self._wrapped[path] = wrapped
        return wrapped

    def _guard(
        self, handler: grpc.RpcMethodHandler[Any, Any], path: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        check = self._check
        kind = next((k for k in _HANDLER_FACTORIES if getattr(handler, k) is not None), None)
        if kind is None:
            raise TypeError(f"{path}: a handler without a behavior")
        behavior, factory = getattr(handler, kind), _HANDLER_FACTORIES[kind]

        if inspect.isasyncgenfunction(behavior):

            async def guarded_stream(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> Any:
                await check(context, path)
                async for item in behavior(request, context):
                    yield item

            guarded: Callable[..., Any] = guarded_stream
        else:

            async def guarded_call(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> Any:
                await check(context, path)
                return await behavior(request, context)

            guarded = guarded_call
        return factory(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


_HANDLER_FACTORIES: dict[str, Callable[..., grpc.RpcMethodHandler[Any, Any]]] = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def interceptors_for(policy: AuthzPolicy | None) -> Sequence[grpc.aio.ServerInterceptor]:
    return () if policy is None else (AuthzInterceptor(policy),)
