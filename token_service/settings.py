"""The token service's frozen settings, read once from the environment at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qrpass.core.config import ENVIRON, ConfigError, Env
from qrpass.core.grpc_server import ServingSettings
from token_service.importer import DEFAULT_MAX_ROWS

MIN_SECRET_BYTES = 32
DEFAULT_DATABASE_URL = "sqlite:///./data/qrpass.db"  # the embedded default: one file, no server


def keys_dir(env: Env) -> Path:
    """QRPASS_KEYS_DIR: where the signing keys are (the CLI's key commands write there)."""
    return Path(env.str("QRPASS_KEYS_DIR", "./data/keys"))


def database_url(env: Env) -> str:
    """DATABASE_URL, or the embedded SQLite file; anything else stops start-up with its name."""
    url = env.str("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not url.startswith(("sqlite", "postgresql")):
        raise ConfigError("DATABASE_URL must be a sqlite:// or postgresql+psycopg2:// URL")
    return url


@dataclass(frozen=True)
class TokenSettings(ServingSettings):
    """Everything the token service reads from the environment."""

    keys_dir: Path
    active_kid: str | None
    algorithm: str
    issuer: str
    audience: str
    ttl_seconds: int
    import_max_rows: int
    # Secrets (the database URL may hold a password) stay out of repr: out of logs and tracebacks.
    database_url: str = field(repr=False)
    jwt_secret: str | None = field(repr=False)
    legacy_secret: str | None = field(repr=False)

    @classmethod
    def from_env(cls, env: Env = ENVIRON) -> TokenSettings:
        serving = ServingSettings.read(
            env, ("TOKEN_LISTEN_ADDR", "0.0.0.0:50051"), ("TOKEN_METRICS_PORT", 9101)
        )
        algorithm = env.choice("JWT_ALGORITHM", "EdDSA", ("EdDSA", "HS256"))
        secret = env.secret("JWT_SECRET")
        if algorithm == "HS256":
            if secret is None:
                raise ConfigError("JWT_SECRET is required when JWT_ALGORITHM=HS256")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        legacy = env.secret("QRPASS_LEGACY_JWT_SECRET")
        url = database_url(env)
        return cls(
            **vars(serving),
            database_url=url,
            keys_dir=keys_dir(env),
            active_kid=env.optional("QRPASS_ACTIVE_KID"),
            algorithm=algorithm,
            jwt_secret=secret,
            legacy_secret=legacy,
            issuer=env.str("JWT_ISSUER", "qrpass"),
            audience=env.str("JWT_AUDIENCE", "qrpass-gate"),
            ttl_seconds=env.int("JWT_TTL_SECONDS", 0),
            import_max_rows=env.int("QRPASS_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS, minimum=1),
        )
