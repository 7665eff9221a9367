"""How a CLI command is declared, the one way every module of the CLI does it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

# A string: argparse's class cannot be subscripted at run time.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command(
    parent: Commands,
    name: str,
    text: str,
    *,
    description: str | None = None,
    func: Callable[[argparse.Namespace], int] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose --help says `text` (or the longer `description`), run by `func`."""
    parser = parent.add_parser(name, help=text, description=description or text)
    if func is not None:
        parser.set_defaults(func=func)
    return parser
