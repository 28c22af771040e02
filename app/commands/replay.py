"""`mespot replay SESSION`: stream a recorded session back through the mock camera, the AcqKnowledge
emulator and the mock trigger box into the same acquisition code (at 1x or maximum speed)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from app.commands.record import MOCK_WORKDIR, add_config_arguments
from app.config import load_config
from app.devices import mock_lab
from app.runner import run_acquisition


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="replay a recorded session through the mock devices")
    parser.add_argument("session", type=Path, help="session directory")
    parser.add_argument("--speed", choices=("1", "max"), default="1", help="1 = real time, max = as fast "
                        "as the acquisition side reads")
    parser.add_argument("--record", type=Path, metavar="OUT", help="record the replay as a new session")
    add_config_arguments(parser)
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    config = replace(config, mock=replace(config.mock, source="session", session=str(args.session),
                                          speed=args.speed))
    with mock_lab(config, MOCK_WORKDIR) as setup:
        result = run_acquisition(setup.config, out=args.record, source_label="replay", duration_s=None,
                                 done=setup.done, quiet=args.quiet, lossless=args.speed == "max")
    print(json.dumps(result.summary(), indent=2))
    if result.device_fault:
        print("mespot replay: device fault(s): " + "; ".join(result.status.faults), file=sys.stderr)
        return 3
    return 0
