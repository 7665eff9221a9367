"""Subject commands: import, delete, rotate and verify."""

from __future__ import annotations

import argparse
from pathlib import Path

from qrpass.cli.rpc import CommandFailed, Targets, run
from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.vocabulary import BY_NAME, BY_PLURAL, BY_VALUE

IMPORT_DEADLINE_SECONDS = 300.0


def import_subjects(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"qrpass: no such file: {path}")
        return 1
    content = path.read_bytes()

    async def command() -> int:
        async with Targets.from_env().token_client() as tokens:
            response = await tokens.import_subjects(
                BY_PLURAL[args.kind], content, timeout=IMPORT_DEADLINE_SECONDS
            )
        if response.errors:
            print(f"import rejected, nothing written; {len(response.errors)} problem(s):")
            for error in response.errors:
                field = f" [{error.field}]" if error.field else ""
                print(f"  line {error.line}{field}: {error.reason}")
            return 1
        print(
            f"imported {args.kind}: {response.created} created, {response.updated} updated, "
            f"{response.unchanged} unchanged"
        )
        return 0

    return run(command)


def delete_subject(args: argparse.Namespace) -> int:
    async def command() -> int:
        async with Targets.from_env().token_client() as tokens:
            await tokens.delete(BY_NAME[args.kind], args.id)
        print(f"deleted {args.kind} {args.id}")
        return 0

    return run(command)


def rotate_subject(args: argparse.Namespace) -> int:
    async def command() -> int:
        async with Targets.from_env().token_client() as tokens:
            response = await tokens.rotate(BY_NAME[args.kind], args.id)
        print(f"rotated {args.kind} {args.id} to version {response.version} (key {response.kid})")
        print(response.token)
        return 0

    return run(command)


def verify_token(args: argparse.Namespace) -> int:
    async def command() -> int:
        async with Targets.from_env().token_client() as tokens:
            response = await tokens.verify(args.token)
        subject = response.subject
        kind = BY_VALUE.get(subject.kind)
        who = f"{kind.name if kind else 'unknown'} {subject.id}".strip()
        if response.valid:
            number = subject.registration_no or subject.stall_number
            print(f"valid: {who} ({number}, {subject.name})")
            return 0
        reason = pb.FailureReason.Name(response.failure_reason).removeprefix("FAILURE_REASON_")
        raise CommandFailed(f"invalid: {reason.lower()}" + (f" ({who})" if subject.id else ""))

    return run(command)
