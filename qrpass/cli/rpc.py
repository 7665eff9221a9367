"""What every CLI command shares: settings, clients of the services, and failure reporting."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from qrpass.core.clients import ImageClient, ServiceClient, TokenClient
from qrpass.core.config import CommonSettings, Env


class CommandFailed(Exception):
    """A command could not do its job; the message is printed and the exit code is 1."""


@dataclass(frozen=True)
class Targets:
    """Where the services are, from TOKEN_SERVICE_ADDR and IMAGE_SERVICE_ADDR."""

    token: str
    image: str
    common: CommonSettings

    @classmethod
    def from_env(cls, env: Env | None = None) -> Targets:
        env = env or Env()
        return cls(
            token=env.str("TOKEN_SERVICE_ADDR", "127.0.0.1:50051"),
            image=env.str("IMAGE_SERVICE_ADDR", "127.0.0.1:50052"),
            common=CommonSettings.from_env(env),
        )

    def token_client(self) -> TokenClient:
        """A client of the token service; use it as `async with`."""
        return TokenClient.connect(self.token, self.common.tls)

    def image_client(self) -> ImageClient:
        """A client of the image service; use it as `async with`."""
        return ImageClient.connect(self.image, self.common.tls)


def describe(error: grpc.aio.AioRpcError) -> str:
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"service unavailable ({error.details()}); is it running?"
    return f"{code.name}: {error.details()}"


def run(command: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run an async command; gRPC failures and CommandFailed print one line and give exit 1."""
    try:
        return asyncio.run(command())
    except grpc.aio.AioRpcError as error:
        print(f"qrpass: {describe(error)}", file=sys.stderr)
    except CommandFailed as error:
        print(f"qrpass: {error}", file=sys.stderr)
    return 1


Command = Callable[[argparse.Namespace], int]
C = TypeVar("C", bound=ServiceClient)


def _using(
    open_client: Callable[[Targets], C],
) -> Callable[[Callable[[argparse.Namespace, C], Awaitable[int]]], Command]:
    """A decorator: `body(args, client)` runs with a client of one service open, under `run`."""

    def decorate(body: Callable[[argparse.Namespace, C], Awaitable[int]]) -> Command:
        def command(args: argparse.Namespace) -> int:
            async def call() -> int:
                async with open_client(Targets.from_env()) as client:
                    return await body(args, client)

            return run(call)

        return command

    return decorate


with_tokens = _using(Targets.token_client)
with_images = _using(Targets.image_client)
