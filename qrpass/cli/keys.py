"""Key commands: `keys generate` and `keys rotate`, on the files in QRPASS_KEYS_DIR."""

from __future__ import annotations

import argparse
from pathlib import Path

from qrpass.core.config import Env
from token_service import keyfiles
from token_service.settings import keys_dir as configured_keys_dir


def _keys_dir() -> Path:
    return configured_keys_dir(Env())


def generate(args: argparse.Namespace) -> int:
    keys_dir = _keys_dir()
    try:
        kid = keyfiles.generate_key(keys_dir, args.kid)
    except (ValueError, FileExistsError) as error:
        print(f"qrpass: {error}")
        return 1
    if keyfiles.read_active(keys_dir) is None and len(keyfiles.list_kids(keys_dir)) == 1:
        keyfiles.set_active(keys_dir, kid)
    print(f"generated key {kid} in {keys_dir}")
    return 0


def rotate(args: argparse.Namespace) -> int:
    keys_dir = _keys_dir()
    old = keyfiles.read_active(keys_dir)
    kid = keyfiles.generate_key(keys_dir)
    keyfiles.set_active(keys_dir, kid)
    print(f"active key is now {kid}" + (f"; {old} keeps verifying" if old else ""))
    if Env().optional("QRPASS_ACTIVE_KID"):
        print("note: QRPASS_ACTIVE_KID is set and overrides the active_kid file")
    return 0
