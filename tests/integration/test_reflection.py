"""Both services serve gRPC server reflection in v1 (what grpcurl, grpcui and Postman ask for
first) and v1alpha, outside production: the service list, and a service's descriptor."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as messages

from tests.support.services import ServiceProcess, base_env, run_cli

VERSIONS = ("grpc.reflection.v1", "grpc.reflection.v1alpha")
SERVICES = {
    "token_service": "qrpass.token.v1.TokenService",
    "image_service": "qrpass.image.v1.ImageService",
}


@pytest.fixture(scope="module", params=sorted(SERVICES))
def service(request, tmp_path_factory) -> Iterator[tuple[str, str]]:
    workdir = tmp_path_factory.mktemp(request.param)
    env = base_env(workdir, IMAGE_RENDER_WORKERS="0")
    if request.param == "token_service":
        assert run_cli(["db", "upgrade"], env, workdir).returncode == 0
    process = ServiceProcess(request.param, env, workdir).start()
    yield process.address, SERVICES[request.param]
    process.stop()


def _ask(address: str, version: str, request: messages.ServerReflectionRequest):
    """One request on the reflection stream of `version`; v1's messages are v1alpha's bytes."""
    with grpc.insecure_channel(address) as channel:
        info = channel.stream_stream(
            f"/{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=messages.ServerReflectionRequest.SerializeToString,
            response_deserializer=messages.ServerReflectionResponse.FromString,
        )
        (reply,) = list(info(iter([request]), timeout=5))
        return reply


@pytest.mark.parametrize("version", VERSIONS)
def test_the_service_list_names_the_api_health_and_both_reflections(service, version) -> None:
    address, api = service
    reply = _ask(address, version, messages.ServerReflectionRequest(list_services=""))
    names = {s.name for s in reply.list_services_response.service}
    assert names == {api, "grpc.health.v1.Health", *(f"{v}.ServerReflection" for v in VERSIONS)}


@pytest.mark.parametrize("version", VERSIONS)
def test_each_listed_service_is_described(service, version) -> None:
    address, api = service
    for symbol in (api, "grpc.reflection.v1.ServerReflection"):
        request = messages.ServerReflectionRequest(file_containing_symbol=symbol)
        reply = _ask(address, version, request)
        assert not reply.HasField("error_response"), (symbol, reply.error_response)
        files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
                 for raw in reply.file_descriptor_response.file_descriptor_proto]  # fmt: skip
        package, _, name = symbol.rpartition(".")
        assert any(f.package == package and name in {s.name for s in f.service} for f in files)
