"""The ``kraken-trio`` command.

Subcommands live in their own modules, each exposing ``COMMAND`` (a :class:`Command`) or
``COMMANDS`` (a list of them); add a module name to :data:`COMMAND_MODULES` to register it.
Modules are imported only when the command line is parsed, so one subcommand's dependencies
never slow down another.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["COMMAND_MODULES", "Command", "main"]


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand.

    Attributes:
        name: What the user types (``fake-exchange``).
        help: One line for ``kraken-trio --help``.
        configure: Adds the subcommand's arguments to its parser.
        run: Runs it with the parsed arguments; returns the exit status.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMAND_MODULES: list[str] = [
    "kraken_trio.cli._fake_exchange",
    "kraken_trio.cli._demo",
    "kraken_trio.cli._streams",
    "kraken_trio.cli._orders",
]
"""Modules that each define ``COMMAND``; the registration list."""


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="kraken-trio", description="Kraken WebSocket tools built on kraken_trio."
    )
    parser.add_argument("--version", action="version", version=f"kraken-trio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        module = importlib.import_module(name)
        commands: list[Command] = (
            module.COMMANDS if hasattr(module, "COMMANDS") else [module.COMMAND]
        )
        for command in commands:
            child = sub.add_parser(command.name, help=command.help, description=command.help)
            command.configure(child)
            child.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kraken-trio``; returns the exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args._run
    return run(args)
