"""The ``ratchet`` command line. Each subcommand lives in its own module with a ``register``.

Exit codes (DESIGN.md §6): 0 ok, 1 runtime failure, 2 bad input (config, args, DB refused),
3 halted by a safety rule, 75 the environment (a restart later may help). Every error a person
can cause prints one line on stderr.

``-c PATH`` is accepted before the command as well as after it (``ratchet -c x.toml status``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core import __version__
from core.errors import EXIT_BAD_INPUT, RatchetError

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "cli.run_cmd",
    "cli.replay_cmd",
    "cli.history_cmd",
    "cli.sweep_cmd",
    "cli.status_cmd",
    "cli.preflight_cmd",
    "cli.db_cmd",
    "cli.sim_cmd",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", default="ratchet.toml", metavar="PATH",
        help="config file (default: ratchet.toml in the working directory)",
    )


# The module of each subcommand, so that a command imports its own module only: the engine's
# actors, python-binance and the sim server load for the commands that use them. A command
# not listed here still works (every module is imported to find it), only not lazily.
COMMAND_OF = {"run": "cli.run_cmd", "replay": "cli.replay_cmd", "status": "cli.status_cmd",
              "reconcile": "cli.status_cmd", "db": "cli.db_cmd", "sim-exchange": "cli.sim_cmd",
              "preflight": "cli.preflight_cmd", "history": "cli.history_cmd",
              "sweep": "cli.sweep_cmd"}
CONFIG_FLAGS = ("-c", "--config")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the module of the command it names (when known)."""
    parser = OneLineParser(prog="ratchet", description="Exchange-side trailing stops.")
    parser.add_argument("--version", action="version", version=f"ratchet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    command = next((a for a in argv or () if not a.startswith("-")), None)
    only = COMMAND_OF.get(command) if command is not None else None
    for name in COMMAND_MODULES:
        if only is None or name == only:
            importlib.import_module(name).register(sub)
    return parser


def hoist_config(argv: Sequence[str]) -> list[str]:
    """``-c PATH`` (or ``--config PATH``, ``--config=PATH``) given before the command moves
    after it, where every command reads it: ``ratchet -c x.toml status`` is
    ``ratchet status -c x.toml``."""
    argv = list(argv)
    if argv and argv[0] in CONFIG_FLAGS and len(argv) >= 2:
        return [*argv[2:], argv[0], argv[1]] if len(argv) > 2 else argv
    if argv and argv[0].startswith("--config="):
        return [*argv[1:], argv[0]] if len(argv) > 1 else argv
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = hoist_config(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except RatchetError as exc:
        sys.stderr.write(f"ratchet: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:  # run and replay handle Ctrl-C themselves; any other command
        sys.stderr.write("ratchet: interrupted (Ctrl-C)\n")
        return EXIT_INTERRUPTED
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
