"""docs/settings.md lists every environment variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The prefixes of qrpass's settings; a string literal like these in service code is a name read.
_NAME = re.compile(r'"((?:QRPASS|REDIS|JWT|TOKEN|IMAGE|GATEWAY|QR|DATABASE|LOG)_[A-Z0-9_]+)"')


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs/settings.md").read_text()))
    sources = [p for package in ("qrpass", "token_service", "image_service", "gateway")
               for p in (ROOT / package).rglob("*.py") if "/v1/" not in str(p)]  # fmt: skip
    read = {name for path in sources for name in _NAME.findall(path.read_text())}
    assert len(read) > 35
    # A secret's _FILE twin is described once, with the rule.
    missing = {name for name in read if name.removesuffix("_FILE") not in documented
               and name not in documented}  # fmt: skip
    assert not missing, f"not in docs/settings.md: {sorted(missing)}"
