"""On-disk layout of a mespot session directory (see docs/session-format.md).

Everything is append-only and made of fixed-size little-endian records, so that the number of complete
items is the file size divided by the record size: a writer killed at any moment leaves a session whose
complete records all open, and a torn trailing record is simply not counted.
"""

from __future__ import annotations

import numpy as np

SCHEMA_NAME = "mespot-session"
SCHEMA_VERSION = 1

METADATA_FILE = "session.json"
FRAMES_DIR = "frames"
FRAME_INDEX_FILE = "frames.idx"
ECG_FILE = "ecg.f64"
EVENTS_FILE = "events.jsonl"
TRUTH_DIR = "truth"
TRUTH_MEGC_FILE = "megc.csv"
TRUTH_CODING_FILE = "coding.csv"

PIXEL_FORMATS = {"MONO8": np.dtype(np.uint8)}

# One record per stored frame. -1 means "not known" (for example a frame whose trigger pulse was lost).
FRAME_INDEX_DTYPE = np.dtype(
    [
        ("camera_frame", "<i8"),  # camera's own frame counter (xiapipy Image.acq_nframe)
        ("camera_ts_us", "<i8"),  # camera timestamp, tsSec * 1e6 + tsUSec
        ("host_ns", "<i8"),  # host monotonic clock when the frame reached the host
        ("trigger_pulse", "<i8"),  # number of the trigger pulse that exposed it, 0-based
        ("ecg_sample", "<i8"),  # ECG sample index of that pulse's rising edge: the session clock
    ]
)

ECG_DTYPE = np.dtype("<f8")

# who may read a session (faces are personal data): (directory mode, file mode) per recording.access
ACCESS_MODES = {"private": (0o700, 0o600), "group": (0o750, 0o640)}

EVENT_KINDS = ("marker", "trial_start", "trial_end", "gap", "fault", "alert", "note")


def chunk_file_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}.u8"
