"""`mespot demo`: the README's demo. Replays the demo session through the mock devices (xiapipy drop-in,
AcqKnowledge emulator, trigger box on a pseudo-terminal) and the whole pipeline (acquisition, engine with
the bundled demo model, HRS filter, alerts), writes the CSV and the report, and prints the summary.

The demo session is synthetic (seed 7, one minute at 150 fps, face region) and is generated, always the
same, on first use."""

from __future__ import annotations

import argparse
from pathlib import Path

from acquisition.errors import InputFileError
from acquisition.session import SessionReader
from hardware_mocks.synth.session import SynthConfig, synthesize_session

DEMO_SEED = 7
DEMO_MINUTES = 1.0
DEFAULT_DEMO_DIR = Path("demo-output")


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="replay the demo session through the mock devices and spot MEs")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DEMO_DIR, help="where the demo writes its output")
    parser.add_argument("--speed", choices=("1", "max"), default="max", help="1 = real time")
    parser.add_argument("--spotter", choices=("flow",),
                        help="flow: the training-free spotter instead of the demo model")
    return parser


def ensure_demo_session(directory: Path) -> Path:
    """The demo session, generated on first use (seed 7, one minute, 150 fps, face region)."""
    session = directory / "demo-session"
    try:
        if SessionReader(session).metadata.closed:
            return session
    except InputFileError:
        pass
    print(f"generating the demo session in {session} (seed {DEMO_SEED}, {DEMO_MINUTES:g} min) ...",
          flush=True)
    synthesize_session(SynthConfig(out=session, minutes=DEMO_MINUTES, seed=DEMO_SEED, overwrite=True))
    return session


def run(args: argparse.Namespace) -> int:
    from app.cli import main

    session = ensure_demo_session(args.dir)
    csv, report = args.dir / "demo-spotted.csv", args.dir / "demo-report.png"
    print(f"replaying {session} through the mock devices at speed {args.speed} ...", flush=True)
    spotter = ["--spotter", args.spotter] if args.spotter else []
    code = main(["replay", str(session), *spotter, "--speed", args.speed, "--csv", str(csv), "--report",
                 str(report), "--quiet"])
    if code == 0:
        print(f"spotted intervals: {csv}\nreport: {report}\n"
              f"score them: mespot evaluate --truth {session}/truth/megc.csv --pred {csv}")
    return code
