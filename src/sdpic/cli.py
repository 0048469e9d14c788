"""The `sdpic` command: one entry point whose subcommands map onto the package's modules.

Each feature module exposes ``add_subcommand(subparsers)`` which registers its parser and sets
``func`` (a callable taking the parsed args and returning an exit status). This module only
dispatches and turns :class:`sdpic.SdpicError` into a one-line message and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from .errors import ParameterError, SdpicError

# Modules providing subcommands. A module that is missing from this build is simply not offered.
_SUBCOMMAND_MODULES = (
    "sdpic.codec_cli",
    "sdpic.demo",
    "sdpic.train.cli",
    "sdpic.saliency.cli",
    "sdpic.metric.cli",
    "sdpic.bench.cli",
    "sdpic.serve",
    "sdpic.export.cli",
)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="sdpic", description="Saliency-driven perceptual image compression.")
    parser.add_argument("--version", action="version", version=f"sdpic {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of the package is not in this build
            raise
        module.add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SdpicError as exc:
        print(f"sdpic: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sdpic: interrupted", file=sys.stderr)
        return 130


def script_status(script_main: Callable[[], int]) -> int:
    """Exit status of a stand-alone script's ``main`` (benchmarks/): a bad argument or input
    (:class:`sdpic.errors.ParameterError`) is one ``error:`` line and status 2, not a traceback."""
    try:
        return script_main()
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
