"""`mespot demo`: the README's demo. Makes the demo session (once; deterministic) and summarizes it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acquisition.errors import InputFileError
from acquisition.session import SessionReader
from hardware_mocks.synth.session import SynthConfig, synthesize_session

DEMO_SEED = 7
DEMO_MINUTES = 1.0
DEFAULT_DEMO_DIR = Path("demo-output")


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="run the demo on the bundled demo session")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DEMO_DIR, help="where the demo writes its output")
    return parser


def ensure_demo_session(directory: Path) -> Path:
    """The demo session, generated on first use (seed 7, one minute, 150 fps, face region)."""
    session = directory / "demo-session"
    try:
        reader = SessionReader(session)
        if reader.metadata.closed:
            return session
    except InputFileError:
        pass
    print(f"generating the demo session in {session} (seed {DEMO_SEED}, {DEMO_MINUTES:g} min) ...")
    synthesize_session(SynthConfig(out=session, minutes=DEMO_MINUTES, seed=DEMO_SEED, overwrite=True))
    return session


def run(args: argparse.Namespace) -> int:
    session = ensure_demo_session(args.dir)
    print(json.dumps(SessionReader(session).summary(), indent=2))
    return 0
