"""Settings from an explicit environment mapping: fail fast, name the variable."""

from __future__ import annotations

import hashlib

import pytest

from gateway.auth import parse_api_keys
from qrpass.core.config import ConfigError, Env


def test_int_bounds_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="QR_CACHE_TTL_SECONDS"):
        Env({"QR_CACHE_TTL_SECONDS": "-1"}).int("QR_CACHE_TTL_SECONDS", 86400, minimum=1)
    assert Env({}).int("QR_CACHE_TTL_SECONDS", 86400) == 86400


def test_secret_from_file(tmp_path) -> None:
    path = tmp_path / "secret"
    path.write_text("from-a-file\n")
    assert Env({"JWT_SECRET_FILE": str(path)}).secret("JWT_SECRET") == "from-a-file"
    with pytest.raises(ConfigError, match="not both"):
        Env({"JWT_SECRET": "x", "JWT_SECRET_FILE": str(path)}).secret("JWT_SECRET")
    with pytest.raises(ConfigError, match="JWT_SECRET_FILE"):
        Env({"JWT_SECRET_FILE": str(tmp_path / "missing")}).secret("JWT_SECRET")


def test_api_keys_plain_and_hashed() -> None:
    digest = hashlib.sha256(b"k2").hexdigest()
    keys = parse_api_keys(f" k1 , sha256:{digest.upper()} ,", "QRPASS_API_KEYS")
    assert keys == {hashlib.sha256(b"k1").hexdigest(), digest}
    with pytest.raises(ConfigError, match="QRPASS_API_KEYS"):
        parse_api_keys("sha256:abc", "QRPASS_API_KEYS")


def test_production_refuses_short_api_keys() -> None:
    from gateway.settings import GatewaySettings

    production = {
        "QRPASS_ENV": "production",
        "QRPASS_API_KEYS": "c" * 24,
        "QRPASS_ADMIN_API_KEYS": "a" * 24,
    }
    assert GatewaySettings.from_env(Env(production)).admin_keys
    for name in ("QRPASS_API_KEYS", "QRPASS_ADMIN_API_KEYS", "QRPASS_SCANNER_API_KEYS"):
        with pytest.raises(ConfigError, match=f"{name} has a key shorter than 24"):
            GatewaySettings.from_env(Env(production | {name: "short-key"}))
    assert GatewaySettings.from_env(Env({"QRPASS_API_KEYS": "short"})).client_keys  # development


@pytest.mark.parametrize("value", ["localhost", ":80", "host:port", "h:70000"])
def test_bad_address(value: str) -> None:
    with pytest.raises(ConfigError, match="TOKEN_LISTEN_ADDR"):
        Env({"TOKEN_LISTEN_ADDR": value}).address("TOKEN_LISTEN_ADDR", "0.0.0.0:1")


def test_image_cache_settings_are_explicit_in_production() -> None:
    from image_service.settings import ImageSettings

    production = {"QRPASS_ENV": "production", "QRPASS_GRPC_PLAINTEXT": "mesh"}
    with pytest.raises(ConfigError, match="production needs REDIS_URL"):
        ImageSettings.from_env(Env(production))
    assert ImageSettings.from_env(Env(production | {"QRPASS_CACHE": "memory"})).redis_url is None
    with pytest.raises(ConfigError, match="pick one"):
        ImageSettings.from_env(
            Env(production | {"QRPASS_CACHE": "memory", "REDIS_URL": "redis://r:6379/0"})
        )
    assert ImageSettings.from_env(Env({})).redis_url is None  # development: the in-process cache


def test_the_original_systems_redis_settings_are_honoured_or_refused() -> None:
    from image_service.settings import ImageSettings

    built = ImageSettings.from_env(Env({"REDIS_HOST": "cache", "REDIS_PORT": "6380",
                                        "REDIS_PASSWORD": "p@ss/word", "REDIS_DB": "2"}))  # fmt: skip
    assert built.redis_url == "redis://:p%40ss%2Fword@cache:6380/2"
    assert ImageSettings.from_env(Env({"REDIS_HOST": "cache"})).redis_url == "redis://cache:6379/0"
    with pytest.raises(ConfigError, match="REDIS_URL"):
        ImageSettings.from_env(Env({"REDIS_PORT": "6380"}))
    with pytest.raises(ConfigError, match="not both"):
        ImageSettings.from_env(Env({"REDIS_HOST": "cache", "REDIS_URL": "redis://other:6379/0"}))
    with pytest.raises(ConfigError, match="REDIS_DB"):
        ImageSettings.from_env(Env({"REDIS_HOST": "cache", "REDIS_DB": "99"}))


def test_qrpass_up_binds_the_grpc_services_to_loopback_unless_told_otherwise() -> None:
    from qrpass.cli.up import up_environment

    env = up_environment({"PATH": "/bin"})
    assert env["TOKEN_LISTEN_ADDR"] == "127.0.0.1:50051"
    assert env["IMAGE_LISTEN_ADDR"] == "127.0.0.1:50052"
    assert (
        up_environment({"TOKEN_LISTEN_ADDR": "0.0.0.0:6000"})["TOKEN_LISTEN_ADDR"] == "0.0.0.0:6000"
    )


@pytest.mark.parametrize("raw", ["²", "٣", "１", "-1", " 6", "1" * 19, ""])
def test_numbers_are_ascii_digits_only(raw: str) -> None:
    from qrpass.core.config import is_ascii_number

    assert not is_ascii_number(raw)
    assert is_ascii_number("4096")


def test_access_log_is_on_unless_turned_off_and_a_typo_stops_start_up() -> None:
    from gateway.settings import GatewaySettings

    assert GatewaySettings.from_env(Env({})).log_access is True
    assert GatewaySettings.from_env(Env({"QRPASS_ACCESS_LOG": "off"})).log_access is False
    with pytest.raises(ConfigError, match="QRPASS_ACCESS_LOG"):
        GatewaySettings.from_env(Env({"QRPASS_ACCESS_LOG": "no"}))


def test_settings_print_no_secret_and_say_where_they_listen() -> None:
    from gateway.settings import GatewaySettings
    from image_service.settings import ImageSettings
    from token_service.settings import TokenSettings

    secret = "a-jwt-secret-of-at-least-thirty-two-bytes"
    key = "an-api-key-nobody-should-read-in-a-log"
    printed = {
        repr(TokenSettings.from_env(Env({"JWT_ALGORITHM": "HS256", "JWT_SECRET": secret,
                                         "QRPASS_LEGACY_JWT_SECRET": secret,
                                         "DATABASE_URL": f"postgresql://qrpass:{secret}@db/q"}))),
        repr(ImageSettings.from_env(Env({"REDIS_URL": f"redis://:{secret}@cache:6379/0"}))),
        repr(GatewaySettings.from_env(Env({"QRPASS_API_KEYS": key, "QRPASS_ADMIN_API_KEYS": key,
                                           "QRPASS_SCANNER_API_KEYS": key}))),
    }  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()
    for text in printed:
        assert "listen_addr=" in text
        assert secret not in text and key not in text and digest not in text
