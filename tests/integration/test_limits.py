"""Limits: a flood of cold renders cannot starve hits, and VerifyToken answers any input."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2 as token_pb
from tests.support.services import ServiceProcess, base_env


def test_hits_keep_p99_under_50ms_while_1000_cold_renders_queue(tmp_path) -> None:
    image = ServiceProcess(
        "image_service", base_env(tmp_path, IMAGE_RENDER_WORKERS="2"), tmp_path
    ).start()

    async def scenario() -> tuple[list[float], int]:
        async with grpc.aio.insecure_channel(image.address) as channel:
            stub = image_grpc.ImageServiceStub(channel)
            warm = [f"hit-{i}" for i in range(20)]
            await stub.WarmQrCodes(image_pb.WarmQrCodesRequest(texts=warm))
            # 800-character texts at level H and scale 20: about 10 ms a render, 5 s in all.
            big = image_pb.RenderOptions(
                scale=20, error_correction=image_pb.ERROR_CORRECTION_LEVEL_H
            )
            flood = [
                asyncio.ensure_future(
                    stub.RenderQrCode(
                        image_pb.RenderQrCodeRequest(text=uuid.uuid4().hex * 25, options=big),
                        timeout=120,
                    )
                )
                for _ in range(1000)
            ]
            await asyncio.sleep(0.5)  # the flood is queued now
            latencies = []
            for i in range(200):
                start = time.perf_counter()
                reply = await stub.RenderQrCode(image_pb.RenderQrCodeRequest(text=warm[i % 20]))
                latencies.append(time.perf_counter() - start)
                assert reply.cache_status == image_pb.CACHE_STATUS_HIT
            pending_when_done = sum(1 for f in flood if not f.done())
            results = await asyncio.gather(*flood)
            assert all(r.cache_status == image_pb.CACHE_STATUS_MISS for r in results)
            return latencies, pending_when_done

    try:
        latencies, pending = asyncio.run(scenario())
    finally:
        image.stop()
    assert pending > 0, "the flood had finished before the hits were measured"
    assert sorted(latencies)[int(len(latencies) * 0.99)] < 0.050


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.one_of(
    st.text(min_size=1, max_size=600),
    st.binary(min_size=1, max_size=400).map(lambda b: b.decode("latin-1")),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(max_size=80), st.text(max_size=200), st.text(max_size=90)),
))  # fmt: skip
def test_verify_answers_any_token_with_a_clean_verdict(token_service, token: str) -> None:
    try:
        verdict = token_service.verify(token)
    except grpc.RpcError as error:  # only empty or oversized input is an error
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(token.encode("utf-8", "surrogatepass")) > 4096 or not token
        return
    assert not verdict.valid
    assert verdict.failure_reason != token_pb.FAILURE_REASON_UNSPECIFIED
