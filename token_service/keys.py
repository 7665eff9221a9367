"""The key ring: the active signer, and retired keys that still verify, each pinned to one alg."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from token_service import keyfiles
from token_service.errors import SigningKeyError

log = logging.getLogger(__name__)

_REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class Key:
    """One key. `alg` is the only algorithm a token signed with it may claim."""

    kid: str
    alg: str
    signing_key: Any  # Ed25519PrivateKey or the HS256 secret bytes
    verifying_key: Any  # Ed25519PublicKey or the HS256 secret bytes

    def jwk(self) -> dict[str, str] | None:
        if not isinstance(self.verifying_key, Ed25519PublicKey):
            return None  # a shared secret is never published
        raw = self.verifying_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }


def _load_ed25519(path: Path) -> Key:
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError(f"{path.name} is not an Ed25519 private key")
    return Key(path.stem, "EdDSA", private, private.public_key())


class KeyRing:
    """Loads `<kid>.pem` keys from a directory and rebuilds them whenever the directory changes.

    The files are the truth: a removed file stops verifying at the next reload, a malformed one
    is skipped (logged, counted) while the rest apply, and production never loads a `dev*` key.
    If the active key's file goes, signing moves to the newest remaining key, unless
    QRPASS_ACTIVE_KID pins it: then signing fails, naming the key, until the file is back.
    """

    def __init__(
        self,
        keys_dir: Path,
        *,
        algorithm: str = "EdDSA",
        active_kid: str | None = None,
        hs256_secret: str | None = None,
        production: bool = False,
    ) -> None:
        self._dir = keys_dir
        self._algorithm = algorithm
        self._pinned_active = active_kid
        self._production = production
        self._lock = threading.Lock()
        self._keys: dict[str, Key] = {}
        self._active: Key | None = None
        self._stamp: tuple[Any, ...] = ()
        self._checked = 0.0
        self.missing_active: str | None = None  # the configured signer, while it has no file
        self.skipped_files: tuple[str, ...] = ()  # key files that could not be loaded
        self._ignored_development = False  # the last reload skipped dev* files (production)
        if algorithm == "HS256":
            if hs256_secret is None:
                raise SigningKeyError("HS256 needs a secret")
            secret = hs256_secret.encode()
            kid = "hs" + hashlib.sha256(secret).hexdigest()[:8]
            self._active = Key(kid, "HS256", secret, secret)
            self._keys = {kid: self._active}
            return
        self._reload()
        if self._active is None or self.missing_active is not None:
            raise SigningKeyError(self._no_signer_message())  # a bad key setup stops start-up

    @property
    def active(self) -> Key:
        self.refresh()
        if self._active is None:
            raise SigningKeyError(self._no_signer_message())
        return self._active

    def get(self, kid: str) -> Key | None:
        self.refresh()
        return self._keys.get(kid)

    def kids(self) -> frozenset[str]:
        """The ids of every key that verifies now."""
        self.refresh()
        return frozenset(self._keys)

    def jwks(self) -> list[dict[str, str]]:
        self.refresh()
        return [jwk for key in self._keys.values() if (jwk := key.jwk()) is not None]

    def refresh(self) -> None:
        """Rebuild from the files if the directory changed; checked at most once a second."""
        if self._algorithm != "EdDSA":
            return
        now = time.monotonic()
        if now - self._checked < _REFRESH_SECONDS:
            return
        with self._lock:
            self._checked = now
            if self._directory_stamp() != self._stamp:
                self._reload()

    def _no_signer_message(self) -> str:
        if self.missing_active is not None:
            return (
                f"the active signing key {self.missing_active!r} has no usable file in "
                f"{self._dir}; restore it, or make another key active (`qrpass keys rotate`)"
            )
        message = f"no usable Ed25519 signing key (<kid>.pem) in {self._dir}"
        if self._ignored_development:
            message += " (production ignores development keys, dev*)"
        return message

    def _directory_stamp(self) -> tuple[Any, ...]:
        try:
            entries = sorted(
                (p.name, p.stat().st_mtime_ns)
                for p in self._dir.iterdir()
                if p.suffix == ".pem" or p.name == keyfiles.ACTIVE_FILE
            )
        except OSError:
            return ("missing",)
        return tuple(entries)

    def _load_all(self) -> tuple[dict[str, Key], list[str]]:
        keys: dict[str, Key] = {}
        skipped: list[str] = []
        self._ignored_development = False
        for kid in keyfiles.list_kids(self._dir):
            if self._production and kid.startswith(keyfiles.DEV_PREFIX):
                log.warning("production ignores the development key", extra={"kid": kid})
                self._ignored_development = True
                continue
            try:
                keys[kid] = _load_ed25519(self._dir / f"{kid}.pem")
            except (SigningKeyError, OSError, ValueError, TypeError, UnsupportedAlgorithm) as error:
                log.error("skipping a key file that cannot be loaded",
                          extra={"kid": kid, "error": type(error).__name__})  # fmt: skip
                skipped.append(kid)
        return keys, skipped

    def _reload(self) -> None:
        stamp = self._directory_stamp()
        keys, skipped = self._load_all()
        wanted = self._pinned_active or keyfiles.read_active(self._dir)
        newest = keys[max(keys)] if keys else None
        active = newest if wanted is None else keys.get(wanted)
        missing = wanted if wanted is not None and active is None else None
        if missing is not None and self._pinned_active is None and newest is not None:
            active = newest
            log.error("the active key has no usable file; signing with the newest remaining key",
                      extra={"missing_kid": missing, "kid": active.kid})  # fmt: skip
        elif missing is not None:
            log.error("the active key has no usable file; passes cannot be issued until it returns",
                      extra={"missing_kid": missing})  # fmt: skip
        if active is not None and self._active is not None and active.kid != self._active.kid:
            log.info("signing key changed", extra={"kid": active.kid})
        removed = set(self._keys) - set(keys)
        if removed:
            log.warning("keys removed; passes they signed no longer verify",
                        extra={"kids": sorted(removed)})  # fmt: skip
        self._keys, self._active, self._stamp = keys, active, stamp
        self.missing_active, self.skipped_files = missing, tuple(skipped)


def ensure_development_key(keys_dir: Path) -> str | None:
    """Generate a development key when the directory has none; returns its kid if it made one."""
    if keyfiles.list_kids(keys_dir):
        return None
    kid = keyfiles.generate_key(keys_dir, development=True)
    log.warning(
        "generated a development signing key; never use it in production", extra={"kid": kid}
    )
    return kid
