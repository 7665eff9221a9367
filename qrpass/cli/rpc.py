"""What every CLI command shares: settings, clients of the services, and failure reporting."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import grpc

from qrpass.core.clients import ServiceClient, Targets


class CommandFailed(Exception):
    """A command could not do its job; the message is printed and the exit code is 1."""


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
