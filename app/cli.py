"""`mespot` command line: one subcommand per module in ``app.commands``."""

from __future__ import annotations

import argparse
import ctypes
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from acquisition._checks import ECG_RATE_HZ, check_range
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


# physical ranges of the numeric options, by option name (whichever subcommand has them): the one place
OPTION_RANGES = {
    "duration": (1e-3, 7 * 86400.0),  # seconds
    "eta": (1e-6, 1e6),
    "threshold": (0.0, 1.0),
    "fps": (1.0, 1000.0),
    "ecg_rate": ECG_RATE_HZ,
    "rate": ECG_RATE_HZ,
    "minutes": (1e-3, 600.0),
    "iou": (1e-6, 1.0),
    "full_seconds": (0.1, 3600.0),
}


MALLOC_ARENAS = 2  # glibc heaps shared by the threads (its default, 8 per core, fragments: +4 MB/min live)
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def limit_malloc_arenas() -> None:
    """Few glibc heaps for the many acquisition and engine threads: with one per thread, freed frame
    copies fragment them and a live session's memory grows by megabytes a minute (benchmarks/soak.py).
    Left alone where MALLOC_ARENA_MAX is set, and where the C library is not glibc."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is what --help is for)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def check_options(args: argparse.Namespace) -> None:
    for name, (low, high) in OPTION_RANGES.items():
        value = getattr(args, name, None)
        if isinstance(value, float | int) and not isinstance(value, bool):
            check_range(value, "--" + name.replace("_", "-"), low, high)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported (fast start-up)."""
    parser = _Parser(
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
    # FFmpeg (inside OpenCV) logs to stderr on its own; a bad video must end in our one line, not its log
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    limit_malloc_arenas()  # before any thread starts
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    # warnings as they happen, one line each; --quiet keeps only errors (the last line sums the faults up)
    logging.basicConfig(format=f"mespot {args.command}: %(message)s",
                        level=logging.ERROR if getattr(args, "quiet", False) else logging.WARNING)
    try:
        check_options(args)
        return int(args.run(args) or 0)
    except MespotError as exc:
        print(f"mespot {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"mespot {args.command}: interrupted", file=sys.stderr)
        return 130
