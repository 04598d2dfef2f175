"""The ``arkit`` command. Each ``arkit/cli/cmd_*.py`` module adds one sub-command by defining
``register(subparsers)``; it should only adapt arguments to library calls."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from arkit.core.errors import ArkitError

log = logging.getLogger("arkit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arkit", description="AR scene understanding on recorded or live video.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    import arkit.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"arkit.cli.{info.name}")
            module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    try:
        return int(args.func(args) or 0)
    except ArkitError as e:
        print(f"arkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
