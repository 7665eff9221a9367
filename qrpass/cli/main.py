"""`qrpass`: the operator CLI. Exit 0 on success, 1 on failure, 2 on usage errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from qrpass.cli import cache, doctor, gate, keys, subjects, up
from qrpass.cli.commands import command
from qrpass.vocabulary import BY_NAME, BY_PLURAL, MAX_WARM_BATCH, Kind


def _warm_kind(text: str) -> Kind:
    kind = BY_NAME.get(text) or BY_PLURAL.get(text)
    if kind is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not {' or '.join(BY_NAME)}")
    return kind


def _bounded(number: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g}")
        return value

    return parse


def _db_upgrade(args: argparse.Namespace) -> int:
    from qrpass.core.config import ConfigError, Env
    from token_service.migrations import upgrade
    from token_service.settings import database_url

    try:
        url = database_url(Env())
    except ConfigError as error:
        print(f"qrpass: {error}", file=sys.stderr)
        return 2
    try:
        upgrade(url)
    except Exception as error:  # a driver error names the problem; no traceback for operators
        print(f"qrpass: migration failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("database is at the newest schema")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qrpass",
        description="Operate qrpass: subjects, tokens, keys, the image cache and the services.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = command(commands, "db", "database schema").add_subparsers(dest="db", required=True)
    command(db, "upgrade", "migrate DATABASE_URL to the newest schema", func=_db_upgrade)

    imp = command(
        commands,
        "import",
        "import subjects from CSV or XLSX, all or nothing",
        func=subjects.import_subjects,
    )
    imp.add_argument("kind", choices=tuple(BY_PLURAL))
    imp.add_argument("file", help="CSV or XLSX with a header row")

    for name, func, text in (
        ("delete", subjects.delete_subject, "delete a subject; its pass stops verifying"),
        ("rotate", subjects.rotate_subject, "issue a new token; the old one verifies as revoked"),
    ):
        sub = command(commands, name, text, func=func)
        sub.add_argument("kind", choices=tuple(BY_NAME))
        sub.add_argument("id")

    verify = command(
        commands, "verify", "verify a token; exit 0 only when valid", func=subjects.verify_token
    )
    verify.add_argument("token")

    gate.add_commands(commands)

    key_commands = command(commands, "keys", "signing keys in QRPASS_KEYS_DIR")
    key_sub = key_commands.add_subparsers(dest="keys", required=True)
    gen = command(
        key_sub,
        "generate",
        "write a new Ed25519 key (active if it is the first)",
        func=keys.generate,
    )
    gen.add_argument("--kid", help="key id; default: date plus random hex")
    command(key_sub, "rotate", "a new active key; old keys keep verifying", func=keys.rotate)

    warm = command(commands, "warm", "render every subject's pass into the cache", func=cache.warm)
    warm.add_argument(
        "--kind",
        type=_warm_kind,
        metavar="KIND",
        help="only students or only stalls (default: both, one section each)",
    )
    warm.add_argument(
        "--batch-size",
        type=_bounded(int, 1, MAX_WARM_BATCH),
        default=cache.PAGE_SIZE,
        metavar="N",
        help=f"texts a render call (default {cache.PAGE_SIZE}, at most {MAX_WARM_BATCH})",
    )
    warm.add_argument(
        "--rate",
        type=_bounded(float, 0, 1e6),
        default=0.0,
        metavar="QR/S",
        help="at most this many passes a second, for off-peak runs "
        "(default 0: as fast as the renderers go)",
    )
    warm.add_argument("--pushgateway", metavar="URL", help="push the run's metrics here")
    warm.add_argument("--quiet", action="store_true", help="no progress bar")
    command(commands, "stats", "print the image cache statistics", func=cache.stats)
    cache_commands = command(commands, "cache", "the image cache")
    cache_sub = cache_commands.add_subparsers(dest="cache", required=True)
    command(cache_sub, "clear", "drop every cached image (SCAN + UNLINK)", func=cache.clear)
    invalidate = command(
        cache_sub,
        "invalidate",
        "drop one pass's cached images, every variant",
        description="drop one pass's cached images: the default and every variant",
        func=cache.invalidate,
    )
    invalidate.add_argument("token", help="the pass's token (what its QR code holds)")

    check = command(
        commands, "doctor", "live self-test of a running deployment", func=doctor.doctor
    )
    check.add_argument(
        "--gateway", metavar="URL", help="also check this gateway, e.g. http://host:8080"
    )

    run_up = command(commands, "up", "run token_service, image_service and gateway", func=up.up)
    run_up.add_argument("--seed-demo", action="store_true", help="seed demo subjects if empty")
    run_up.add_argument("--no-warm", action="store_true", help="skip the background cache warm")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
