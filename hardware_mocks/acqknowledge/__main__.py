"""Serve an .acq recording as an emulated AcqKnowledge: ``python -m hardware_mocks.acqknowledge FILE.acq``."""

from __future__ import annotations

import argparse
import logging
import time

from hardware_mocks.acqknowledge.emulator import DEFAULT_RPC_PORT, DEFAULT_SINGLE_PORT, AcqKnowledgeEmulator
from hardware_mocks.acqknowledge.sources import ArraySource


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware_mocks.acqknowledge", description=__doc__)
    parser.add_argument("acq", help="AcqKnowledge .acq file to stream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rpc-port", type=int, default=DEFAULT_RPC_PORT)
    parser.add_argument("--single-port", type=int, default=DEFAULT_SINGLE_PORT)
    parser.add_argument("--speed", type=float, default=1.0, help="1 = real time; 0 = as fast as read")
    parser.add_argument("--digital", action="append", default=[], help="label of a digital channel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    source = ArraySource.from_acq(args.acq, types={label: "digital" for label in args.digital})
    emulator = AcqKnowledgeEmulator(
        source,
        host=args.host,
        rpc_port=args.rpc_port,
        single_port=args.single_port,
        speed=args.speed or None,
    )
    with emulator:
        size = f"{source.n_samples} samples at {source.base_rate:g} Hz"
        print(f"AcqKnowledge emulator at {emulator.url}: {size}")
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
