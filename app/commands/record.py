"""`mespot record --config lab.toml`: record a synchronized session from the lab's devices (or the mocks)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from app.config import load_config
from app.devices import mock_lab
from app.runner import run_acquisition

MOCK_WORKDIR = Path("demo-output") / "mock-sources"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="lab configuration (TOML); see lab.example.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting, e.g. --set camera.exposure_us=2000 (repeatable)")


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="record a session from the lab devices (camera.driver=mock: mocks)")
    add_config_arguments(parser)
    parser.add_argument("--out", type=Path, help="session directory (default: recording.out_dir/<subject>_"
                        "<trial>_<time>)")
    parser.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    out = args.out or Path(config.recording.out_dir) / (
        f"{config.recording.subject}_{config.recording.trial}_{dt.datetime.now():%Y%m%d-%H%M%S}")
    if config.camera.driver == "mock":
        with mock_lab(config, MOCK_WORKDIR) as setup:
            result = run_acquisition(setup.config, out=out, source_label="live", duration_s=args.duration,
                                     done=setup.done, quiet=args.quiet)
    else:
        result = run_acquisition(config, out=out, source_label="live", duration_s=args.duration,
                                 quiet=args.quiet)
    print(json.dumps(result.summary(), indent=2))
    if result.device_fault:
        print("mespot record: device fault(s) during the session (recorded data kept): "
              + "; ".join(result.status.faults), file=sys.stderr)
        return 3
    return 0
