"""`qrpass doctor`: a live self-test of a running deployment, one ✅/❌ line per check."""

from __future__ import annotations

import argparse
import io
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable

import grpc
import zxingcpp
from PIL import Image

from qrpass.cli.rpc import CommandFailed, run
from qrpass.core.clients import DEFAULT_DEADLINE_SECONDS, ServiceClient, Targets
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import KINDS

HIT, MISS = image_pb.CACHE_STATUS_HIT, image_pb.CACHE_STATUS_MISS


class Doctor:
    """Runs checks in order; a failed check is reported and the next one still runs."""

    def __init__(self) -> None:
        self.failures = 0

    async def check(self, name: str, probe: Callable[[], Awaitable[str]]) -> None:
        start = time.perf_counter()
        try:
            detail = await probe()
            mark = "✅"
        except Exception as error:  # any failure is a finding to print, not a crash
            if isinstance(error, grpc.aio.AioRpcError):
                detail = f"{error.code().name}: {error.details()}"
            else:
                detail = f"{type(error).__name__}: {error}"
            mark = "❌"
            self.failures += 1
        elapsed = (time.perf_counter() - start) * 1000
        print(f"{mark} {name:<34} {elapsed:8.1f} ms  {detail}", flush=True)


def _decode(png: bytes) -> str:
    image = Image.open(io.BytesIO(png)).convert("L")
    result = zxingcpp.read_barcode(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    if result is None:
        raise CommandFailed("the image does not scan")
    return result.text


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CommandFailed(message)


def doctor(args: argparse.Namespace) -> int:
    async def command() -> int:
        targets = Targets.from_env()
        tokens, images = targets.token_client(), targets.image_client()
        doc = Doctor()
        state: dict[str, str] = {}

        async def healthy(client: ServiceClient) -> str:
            status = await client.health(timeout=DEFAULT_DEADLINE_SECONDS)
            _expect(status == "serving", f"not SERVING: {status}")
            return "SERVING"

        async def cache() -> str:
            stats = await images.cache_stats()
            _expect(stats.connected, f"{stats.backend} is not connected")
            return f"{stats.backend}, {stats.entries} entries, hit ratio {stats.hit_ratio:.0%}"

        async def token_round_trip() -> str:
            for kind in KINDS:
                page = await tokens.list_tokens(kind, page_size=1)
                if page.subject_tokens:
                    subject = page.subject_tokens[0].subject
                    issued = await tokens.issue(kind, subject.id)
                    state["token"] = issued.token
                    return f"{kind.name} {subject.id}, key {issued.kid}, {len(issued.token)} chars"
            raise CommandFailed("no subjects to test with; import some first")

        async def verify(token: str, expect_valid: bool, reason: str = "") -> str:
            reply = await tokens.verify(token)
            got = token_pb.FailureReason.Name(reply.failure_reason).removeprefix("FAILURE_REASON_")
            _expect(reply.valid == expect_valid, f"valid={reply.valid} ({got.lower()})")
            if reason:
                _expect(got == reason, f"expected {reason.lower()}, got {got.lower()}")
            return "valid" if reply.valid else got.lower()

        def tampered() -> str:
            head, body, signature = state["token"].split(".")
            flipped = "A" if signature[5] != "A" else "B"
            return f"{head}.{body}.{signature[:5]}{flipped}{signature[6:]}"

        probe_text = f"qrpass-doctor-{uuid.uuid4().hex}"

        async def render(expected: int) -> str:
            reply = await images.render(probe_text)
            status = image_pb.CacheStatus.Name(reply.cache_status).removeprefix("CACHE_STATUS_")
            _expect(reply.cache_status == expected, f"cache status {status}")
            _expect(_decode(reply.image) == probe_text, "decodes to other text")
            return f"{status}, {len(reply.image)} bytes, decodes"

        async def gateway() -> str:
            url = f"{args.gateway}/readyz"
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"--gateway must be an http(s) URL, got {args.gateway!r}")
            # Checked above (bandit B310).
            with urllib.request.urlopen(url, timeout=5) as reply:  # nosec B310
                return f"HTTP {reply.status}"

        async with tokens, images:
            await doc.check("token_service health", lambda: healthy(tokens))
            await doc.check("image_service health", lambda: healthy(images))
            await doc.check("image cache", cache)
            if args.gateway:
                await doc.check("gateway /readyz", gateway)
            await doc.check("token round trip", token_round_trip)
            if "token" in state:
                await doc.check("verify a valid token", lambda: verify(state["token"], True))
                await doc.check(
                    "verify a tampered token", lambda: verify(tampered(), False, "BAD_SIGNATURE")
                )
            await doc.check(
                "verify an invalid token", lambda: verify("not.a.token", False, "MALFORMED")
            )
            await doc.check("cold render that scans (miss)", lambda: render(MISS))
            await doc.check("the same render again (hit)", lambda: render(HIT))
            await images.invalidate(probe_text)
        print("all checks passed" if not doc.failures else f"{doc.failures} check(s) failed")
        return 1 if doc.failures else 0

    return run(command)
