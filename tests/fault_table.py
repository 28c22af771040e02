"""The fault table: `mespot record` on the mock lab (4 s at 150 fps and 1 kHz) with one device fault at 1.5 s,
then a replay of what it recorded.

    .venv/bin/python -m tests.fault_table [--out docs/faults.md]

Each row: the exit code and the lines on stderr, whether the session was closed, frames and ECG samples stored
against those of the whole run, and whether the replay of the faulted session ended by itself (and how).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from acquisition.session import SessionReader

ROOT = Path(__file__).resolve().parent.parent
SECONDS, FAULT_AT_S, FPS, ECG_RATE = 4.0, 1.5, 150.0, 1000.0
RUN_TIMEOUT_S = 90.0
FULL_DISK_BYTES = 4 * 2**20  # size limit of any file written (RLIMIT_FSIZE): the disk "fills" at 4 MiB
FULL_DISK = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from app.cli import main
sys.exit(main(sys.argv[2:]))
"""
FAULTS: dict[str, list[str]] = {
    "none": [],
    "ECG connection dropped": ["mock.fault_ecg_drop_after_s=1.5"],
    "ECG stalled 3 s": ["mock.fault_ecg_stall_after_s=1.5", "mock.fault_ecg_stall_s=3"],
    "camera timeouts, 10": ["mock.fault_camera_timeouts_after_s=1.5", "mock.fault_camera_timeouts=10"],
    "camera timeouts, for good": ["mock.fault_camera_timeouts_after_s=1.5",
                                  "mock.fault_camera_timeouts=1000000"],
    "camera disconnected": ["mock.fault_camera_disconnect_after_s=1.5"],
    "trigger box unplugged": ["mock.fault_trigger_unplug_after_s=1.5"],
    "trigger box muted": ["mock.fault_trigger_mute_after_s=1.5"],
    "disk full (4 MiB)": [],
}


def record(source: Path, out: Path, settings: list[str], full_disk: bool) -> tuple[int | None, int]:
    args = ["record", "--set", "camera.driver=mock", "--set", "mock.source=session", "--set",
            f"mock.session={source}", *(x for s in settings for x in ("--set", s)),
            "--duration", f"{SECONDS:g}", "--out", str(out), "--quiet"]
    command = [sys.executable, "-c", FULL_DISK, str(FULL_DISK_BYTES), *args] if full_disk else \
        [sys.executable, "-m", "app", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, 0
    return done.returncode, len([line for line in done.stderr.splitlines() if line.strip()])


def replay(session: Path) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        command = [sys.executable, "-m", "app", "replay", str(session), "--no-engine", "--speed", "max",
                   "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, RUN_TIMEOUT_S
    return done.returncode, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mespot-faults-"))
    source = ROOT / "demo-output" / "demo-session"
    if not source.exists():
        subprocess.run([sys.executable, "-m", "app", "demo", "--no-gui"], cwd=ROOT, check=False,
                       capture_output=True)
    rows = ["| fault (at 1.5 s of 4 s) | exit | stderr lines | session closed | frames stored / run | "
            "ECG samples stored / run | replay ends by itself | replay exit |", "|" + " --- |" * 8]
    ok = True
    for name, settings in FAULTS.items():
        out = work / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        code, lines = record(source, out, settings, full_disk=name.startswith("disk full"))
        try:
            reader = SessionReader(out)
            closed, frames, samples = reader.metadata.closed, len(reader), reader.ecg_sample_count
            opened = True
        except Exception as exc:  # reported in the row: a session that does not open is a failure
            closed, frames, samples, opened = f"does not open ({exc})", 0, 0, False
        replay_code, replay_s = replay(out) if opened else (None, 0.0)
        ends = replay_code is not None
        rows.append(f"| {name} | {code} | {lines} | {closed} | {frames} / {int(SECONDS * FPS)} | "
                    f"{samples} / {int(SECONDS * ECG_RATE)} | {'yes' if ends else 'NO'} ({replay_s:.1f} s) | "
                    f"{replay_code} |")
        ok &= opened and ends and code in (0, 3) and lines <= 1
    text = "\n".join(rows)
    print(text)
    if args.out:
        about = __doc__.split("\n\n")[2].replace("\n", " ")
        args.out.write_text("# Device faults during a recording\n\nWritten by `.venv/bin/python -m "
                            f"tests.fault_table --out docs/faults.md`: {about}\n\n{text}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
