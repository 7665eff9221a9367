"""Typed settings read from the environment; a bad value names its variable and stops start-up."""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from qrpass.core import logs


def is_ascii_number(raw: str) -> bool:
    """ASCII digits only, at most 18: str.isdigit() also takes "²" and "٣", which int() refuses."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Env:
    """Reads typed values from a mapping (os.environ by default), so tests can pass their own."""

    def __init__(self, environ: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self._environ.get(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{name} is required but not set")
            return default
        return value

    def optional(self, name: builtins.str) -> builtins.str | None:
        value = self._environ.get(name, "")
        return value or None

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int = 0,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        raw = self._environ.get(name, "")
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            raise ConfigError(f"{name} must be at least {minimum}{upper}, got {value}")
        return value

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        raw = self._environ.get(name, "").strip().lower()
        if raw == "":
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def choice(
        self, name: builtins.str, default: builtins.str, choices: tuple[builtins.str, ...]
    ) -> builtins.str:
        value = self.str(name, default)
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def address(self, name: builtins.str, default: builtins.str) -> builtins.str:
        value = self.str(name, default)
        host, sep, port = value.rpartition(":")
        if not sep or not host or not is_ascii_number(port) or int(port) > 65535:
            raise ConfigError(f"{name} must be host:port, got {value!r}")
        return value

    def file(self, name: builtins.str) -> Path | None:
        raw = self.optional(name)
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_file():
            raise ConfigError(f"{name} names {raw!r}, which is not a readable file")
        return path

    def secret(self, name: builtins.str) -> builtins.str | None:
        """A secret from NAME, or from the file named by NAME_FILE."""
        value = self.optional(name)
        path = self.file(f"{name}_FILE")
        if value is not None and path is not None:
            raise ConfigError(f"set {name} or {name}_FILE, not both")
        if path is not None:
            return path.read_text().strip() or None
        return value


# The process's own environment. Env keeps a reference to os.environ, not a copy, so this
# reads what is set when a value is asked for.
ENVIRON = Env()


@dataclass(frozen=True)
class TlsSettings:
    """Paths of the PEM files that turn on TLS (and mTLS with a CA) for gRPC."""

    cert_file: Path | None
    key_file: Path | None
    ca_file: Path | None

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None or self.ca_file is not None


@dataclass(frozen=True)
class CommonSettings:
    """Settings that every process reads."""

    environment: str
    log_level: str
    tls: TlsSettings

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Env) -> CommonSettings:
        tls = TlsSettings(
            cert_file=env.file("QRPASS_TLS_CERT_FILE"),
            key_file=env.file("QRPASS_TLS_KEY_FILE"),
            ca_file=env.file("QRPASS_TLS_CA_FILE"),
        )
        if (tls.cert_file is None) != (tls.key_file is None):
            raise ConfigError("QRPASS_TLS_CERT_FILE and QRPASS_TLS_KEY_FILE must be set together")
        return cls(
            environment=env.choice("QRPASS_ENV", "development", ("development", "production")),
            log_level=env.choice(
                "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
            ),
            tls=tls,
        )


class ServiceSettings(Protocol):
    """What every process's settings have."""

    @property
    def common(self) -> CommonSettings: ...


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_or_exit(service: str, load: Callable[[], SettingsT]) -> SettingsT:
    """A process's settings, with its JSON logging configured. A bad setting prints one line
    naming the variable and exits with status 2, before anything starts."""
    try:
        settings = load()
    except ConfigError as error:
        print(f"{service}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(service, settings.common.log_level)
    return settings
