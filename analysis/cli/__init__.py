"""Command-line entry point.

Each subcommand lives in its own module in this package and defines::

    COMMANDS = {"name": (help_text, add_arguments, run)}

where ``add_arguments(parser)`` declares the options and ``run(args) -> int`` does the work. Modules are discovered
automatically, so adding a subcommand touches no shared file. A :class:`~analysis.errors.SenseScopeError` raised by a
command is printed as one line on stderr and the exit status is 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from analysis.errors import SenseScopeError


def _discover():
    commands = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        commands.update(getattr(module, "COMMANDS", {}))
    return commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="SenseScope analyses from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in _discover().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Process-wide settings belong to the entry points, not the library (see app.py).
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SenseScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished chunks are kept in the cache; run the same command again to resume", file=sys.stderr)
        return 130
