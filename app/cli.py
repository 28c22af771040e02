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
    "import": "import_session",
    "export": "export",
    "live": "live",
    "demo": "demo",
    "train": "train",
    "ablation": "ablation",
    "gui": "gui",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(
        prog="mespot",
        description="Real-time micro-expression spotting from 150 fps video and ECG (CMCL-Net).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(f"app.commands.{module_name}")
        command_parser = module.add_parser(sub, name)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except MespotError as exc:
        print(f"mespot {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"mespot {args.command}: interrupted", file=sys.stderr)
        return 130
