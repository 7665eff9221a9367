"""Ed25519 signing-key files: `<kid>.pem` in a keys directory, plus an `active_kid` marker."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from qrpass.vocabulary import ID_PATTERN, ID_RULE

ACTIVE_FILE = "active_kid"
DEV_PREFIX = "dev"


def new_kid(prefix: str = "") -> str:
    """A short, time-sortable key id such as `261121a3f9` (short kids keep tokens short)."""
    return f"{prefix}{time.strftime('%y%m%d', time.gmtime())}{secrets.token_hex(2)}"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def generate_key(keys_dir: Path, kid: str | None = None, *, development: bool = False) -> str:
    """Write a new Ed25519 private key as `<kid>.pem` (mode 0600) and return its kid."""
    kid = kid or new_kid(DEV_PREFIX if development else "")
    if not ID_PATTERN.fullmatch(kid):
        raise ValueError(f"key id {kid!r} must match {ID_RULE}")
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / f"{kid}.pem"
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, pem)
    return kid


def set_active(keys_dir: Path, kid: str) -> None:
    """Mark `kid` as the signer; the service picks the change up without a restart."""
    if not (keys_dir / f"{kid}.pem").is_file():
        raise FileNotFoundError(f"no key file {kid}.pem in {keys_dir}")
    tmp = keys_dir / f".{ACTIVE_FILE}.tmp"
    tmp.write_text(kid + "\n")
    os.replace(tmp, keys_dir / ACTIVE_FILE)


def read_active(keys_dir: Path) -> str | None:
    try:
        return (keys_dir / ACTIVE_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def list_kids(keys_dir: Path) -> list[str]:
    if not keys_dir.is_dir():
        return []
    return sorted(p.stem for p in keys_dir.glob("*.pem") if ID_PATTERN.fullmatch(p.stem))
