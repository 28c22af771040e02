"""`mespot` command line: one subcommand per module in ``app.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from acquisition.errors import MespotError

# Subcommand name -> module in app.commands (imported lazily so that `mespot evaluate` never pays for Qt).
COMMANDS = {
    "synth": "synth",
    "evaluate": "evaluate",
    "inspect": "inspect",
    "record": "record",
    "replay": "replay",
    "demo": "demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mespot",
        description="Real-time micro-expression spotting from 150 fps video and ECG (CMCL-Net).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"app.commands.{module_name}")
        command_parser = module.add_parser(sub, name)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except MespotError as exc:
        print(f"mespot {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"mespot {args.command}: interrupted", file=sys.stderr)
        return 130
