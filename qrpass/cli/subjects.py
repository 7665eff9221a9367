"""Subject commands: import, delete, rotate and verify."""

from __future__ import annotations

import argparse
from pathlib import Path

from qrpass.cli.rpc import CommandFailed, with_tokens
from qrpass.core.clients import TokenClient
from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.vocabulary import BY_NAME, BY_PLURAL, BY_VALUE

IMPORT_DEADLINE_SECONDS = 300.0


@with_tokens
async def import_subjects(args: argparse.Namespace, tokens: TokenClient) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CommandFailed(f"no such file: {path}")
    response = await tokens.import_subjects(
        BY_PLURAL[args.kind], path.read_bytes(), timeout=IMPORT_DEADLINE_SECONDS
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


@with_tokens
async def delete_subject(args: argparse.Namespace, tokens: TokenClient) -> int:
    await tokens.delete(BY_NAME[args.kind], args.id)
    print(f"deleted {args.kind} {args.id}")
    return 0


@with_tokens
async def rotate_subject(args: argparse.Namespace, tokens: TokenClient) -> int:
    response = await tokens.rotate(BY_NAME[args.kind], args.id)
    print(f"rotated {args.kind} {args.id} to version {response.version} (key {response.kid})")
    print(response.token)
    return 0


@with_tokens
async def verify_token(args: argparse.Namespace, tokens: TokenClient) -> int:
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
