"""Subject commands: import, delete, rotate and verify."""

from __future__ import annotations

import argparse
from pathlib import Path

from qrpass.cli.rpc import DEADLINE_SECONDS, KIND_NAMES, KINDS, CommandFailed, Targets, run
from qrpass.token.v1 import token_service_pb2 as pb

IMPORT_DEADLINE_SECONDS = 300.0


def import_subjects(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"qrpass: no such file: {path}")
        return 1
    content = path.read_bytes()

    async def command() -> int:
        channel, stub = Targets.from_env().token_stub()
        async with channel:
            request = pb.ImportSubjectsRequest(kind=KINDS[args.kind.rstrip("s")], content=content)
            response = await stub.ImportSubjects(request, timeout=IMPORT_DEADLINE_SECONDS)
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
        channel, stub = Targets.from_env().token_stub()
        async with channel:
            request = pb.DeleteSubjectRequest(kind=KINDS[args.kind], subject_id=args.id)
            await stub.DeleteSubject(request, timeout=DEADLINE_SECONDS)
        print(f"deleted {args.kind} {args.id}")
        return 0

    return run(command)


def rotate_subject(args: argparse.Namespace) -> int:
    async def command() -> int:
        channel, stub = Targets.from_env().token_stub()
        async with channel:
            request = pb.RotateTokenRequest(kind=KINDS[args.kind], subject_id=args.id)
            response = await stub.RotateToken(request, timeout=DEADLINE_SECONDS)
        print(f"rotated {args.kind} {args.id} to version {response.version} (key {response.kid})")
        print(response.token)
        return 0

    return run(command)


def verify_token(args: argparse.Namespace) -> int:
    async def command() -> int:
        channel, stub = Targets.from_env().token_stub()
        async with channel:
            request = pb.VerifyTokenRequest(token=args.token)
            response = await stub.VerifyToken(request, timeout=DEADLINE_SECONDS)
        subject = response.subject
        who = f"{KIND_NAMES.get(subject.kind, 'unknown')} {subject.id}".strip()
        if response.valid:
            number = subject.registration_no or subject.stall_number
            print(f"valid: {who} ({number}, {subject.name})")
            return 0
        reason = pb.FailureReason.Name(response.failure_reason).removeprefix("FAILURE_REASON_")
        raise CommandFailed(f"invalid: {reason.lower()}" + (f" ({who})" if subject.id else ""))

    return run(command)
