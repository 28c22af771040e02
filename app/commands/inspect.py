"""`mespot inspect SESSION`: print a session's summary as JSON."""

from __future__ import annotations

import argparse
import json

from acquisition.session import SessionReader


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="print a recorded or synthetic session's summary")
    parser.add_argument("session", help="session directory")
    return parser


def run(args: argparse.Namespace) -> int:
    print(json.dumps(SessionReader(args.session).summary(), indent=2))
    return 0
