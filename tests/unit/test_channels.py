"""The client channels' retry policy follows the proto's idempotency_level marks."""

from __future__ import annotations

import json

from qrpass.core.channels import CHANNEL_OPTIONS

STATE_CHANGING = {
    "RotateToken", "ImportSubjects", "DeleteSubject", "CheckIn", "BatchCheckIn", "PruneScans",
    "ClearCache", "WatchSubjectChanges",
}  # fmt: skip


def _retried() -> dict[str, set[str]]:
    config = json.loads(dict(CHANNEL_OPTIONS)["grpc.service_config"])
    (policy,) = config["methodConfig"]
    assert policy["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE", "CANCELLED"]
    retried: dict[str, set[str]] = {}
    for name in policy["name"]:
        retried.setdefault(name["service"], set()).add(name["method"])
    return retried


def test_reads_and_repeatable_writes_are_retried_and_nothing_that_changes_state_twice() -> None:
    retried = _retried()
    assert retried["qrpass.token.v1.TokenService"] == {
        "IssueToken", "VerifyToken", "ListTokens", "GetJwks", "ListScans", "ListRevocations",
    }  # fmt: skip
    assert retried["qrpass.image.v1.ImageService"] == {
        "RenderQrCode", "RenderQrCodes", "WarmQrCodes", "InvalidateQrCode", "InvalidateQrCodes",
        "GetCacheStats",
    }  # fmt: skip
    assert not STATE_CHANGING & set().union(*retried.values())
