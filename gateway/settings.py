"""The gateway's frozen settings, read once from the environment at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway import access_log
from gateway.auth import MIN_PRODUCTION_KEY_LENGTH, parse_api_keys
from qrpass.core.clients import Targets
from qrpass.core.config import ENVIRON, CommonSettings, ConfigError, Env


def listen_addr(env: Env) -> str:
    """GATEWAY_LISTEN_ADDR: where the gateway serves HTTP (`qrpass up` waits on it too)."""
    return env.address("GATEWAY_LISTEN_ADDR", "0.0.0.0:8080")


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway reads from the environment. API keys are held as sha256 digests."""

    common: CommonSettings
    listen_addr: str
    targets: Targets
    # Digests only, yet kept out of logs all the same.
    client_keys: frozenset[str] = field(repr=False)
    admin_keys: frozenset[str] = field(repr=False)
    scanner_keys: frozenset[str] = field(repr=False)
    rate_limit_per_minute: int
    near_cache_bytes: int = 256 * 1024 * 1024
    deadline_seconds: float = 10.0
    import_deadline_seconds: float = 120.0
    log_access: bool = True

    @classmethod
    def from_env(cls, env: Env = ENVIRON) -> GatewaySettings:
        common = CommonSettings.from_env(env)
        minimum = MIN_PRODUCTION_KEY_LENGTH if common.production else 1

        def keys(name: str) -> frozenset[str]:
            return parse_api_keys(env.secret(name), name, min_length=minimum)

        client, admin = keys("QRPASS_API_KEYS"), keys("QRPASS_ADMIN_API_KEYS")
        scanner = keys("QRPASS_SCANNER_API_KEYS")
        if common.production and not admin:
            raise ConfigError(
                "production needs QRPASS_ADMIN_API_KEYS (or QRPASS_ADMIN_API_KEYS_FILE)"
            )
        if common.production and not client:
            raise ConfigError("production needs QRPASS_API_KEYS (or QRPASS_API_KEYS_FILE)")
        return cls(
            common=common,
            listen_addr=listen_addr(env),
            targets=Targets.from_env(env, common.tls),
            client_keys=client,
            admin_keys=admin,
            scanner_keys=scanner,
            rate_limit_per_minute=env.int("QRPASS_RATE_LIMIT_PER_MINUTE", 0),
            # 0 turns the near-cache off: every pass then goes through both services.
            near_cache_bytes=env.int("GATEWAY_NEAR_CACHE_MB", 256, maximum=65_536) * 1024 * 1024,
            log_access=env.choice(access_log.SETTING, "on", access_log.CHOICES) == "on",
        )
