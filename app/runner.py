"""Runs an acquisition (with the recorder when a session is written) until told to stop.

Shared by `mespot record` and `mespot replay`. Ctrl-C or SIGTERM stop cleanly: the session is always
closed with everything already captured.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acquisition.pipeline import Acquisition, AcquisitionStatus
from acquisition.recorder import Recorder, RecorderStats
from acquisition.session import SessionWriter
from app.config import LabConfig
from app.devices import build_acquisition, session_metadata

STATUS_INTERVAL_S = 1.0
POLL_S = 0.05


@dataclass(frozen=True)
class RunResult:
    status: AcquisitionStatus
    recorder: RecorderStats | None
    session: Path | None
    wall_s: float
    stopped_by: str

    @property
    def device_fault(self) -> bool:
        return bool(self.status.faults)

    def summary(self) -> dict[str, Any]:
        status = self.status
        out: dict[str, Any] = {
            "stopped_by": self.stopped_by,
            "wall_s": round(self.wall_s, 2),
            "frames": status.frames,
            "frames_dropped": status.frames_dropped,
            "camera_timeouts": status.camera_timeouts,
            "ecg_samples": status.ecg_samples,
            "ecg_lost": status.ecg_lost,
            "pulses_seen": status.pulses_seen,
            "edges_inferred_in_ecg_gaps": status.edges_inferred,
            "worst_sync_error_frames": status.worst_sync_error_frames,
            "worst_stamp_prediction_samples": status.worst_stamp_prediction_samples,
            "faults": list(status.faults),
        }
        if self.recorder is not None:
            out["session"] = str(self.session)
            out["frames_written"] = self.recorder.frames_written
            out["ecg_samples_written"] = self.recorder.ecg_samples_written
            out["frames_lost_by_recorder"] = self.recorder.frames_lost_by_recorder
        return out


@contextmanager
def _stop_on_signals(flag: list[str]):
    def handler(signum: int, _frame: object) -> None:
        flag.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            # once asked to stop, the process is finishing (summary, exit): more signals are ignored
            signal.signal(s, signal.SIG_IGN if flag and flag[0] in ("SIGINT", "SIGTERM") else h)


def format_status(status: AcquisitionStatus) -> str:
    return (f"frames {status.frames} ({status.delivery_fps:5.1f} fps) dropped {status.frames_dropped} "
            f"timeouts {status.camera_timeouts} | ECG {status.ecg_samples} lost {status.ecg_lost} | "
            f"sync error {status.worst_sync_error_frames} frames")


def run_acquisition(config: LabConfig, *, out: Path | None, source_label: str, duration_s: float | None,
                    done: Callable[[Acquisition], bool] | None = None, quiet: bool = False,
                    on_started: Callable[[Acquisition], None] | None = None,
                    lossless: bool = False) -> RunResult:
    acquisition = build_acquisition(config)
    acquisition.open()
    recorder = None
    if out is not None:
        try:
            writer = SessionWriter(out, session_metadata(config, source_label),
                                   access=config.recording.access)
        except BaseException:
            acquisition.stop()
            raise
        recorder = Recorder(acquisition, writer, fsync_interval_s=config.recording.fsync_interval_s,
                            lossless=lossless)
        recorder.start()
    if on_started:
        on_started(acquisition)
    try:
        acquisition.start()
    except BaseException:
        if recorder:
            recorder.stop()
        raise
    stop_reason: list[str] = []
    started = time.monotonic()
    last_print = started
    # the handlers stay in place through the shutdown: more Ctrl-C or SIGTERM while the session is being
    # closed are noted, never an interruption (the session is always closed with what was captured)
    with _stop_on_signals(stop_reason):
        try:
            while not stop_reason:
                time.sleep(POLL_S)
                now = time.monotonic()
                if duration_s is not None and now - started >= duration_s:
                    stop_reason.append("duration")
                elif done is not None and done(acquisition):
                    stop_reason.append("end of source")
                elif acquisition.camera_failed.is_set():
                    stop_reason.append("camera fault")
                elif recorder is not None and recorder.error is not None:
                    stop_reason.append("recorder fault")
                if not quiet and now - last_print >= STATUS_INTERVAL_S:
                    print(format_status(acquisition.status()), file=sys.stderr, flush=True)
                    last_print = now
        finally:
            acquisition.stop()
            stats = recorder.stop() if recorder else None
    if recorder is not None and recorder.error is not None:
        raise recorder.error
    return RunResult(acquisition.status(), stats, out, time.monotonic() - started, stop_reason[0])
