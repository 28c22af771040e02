"""Acquisition: camera and ECG threads under the shared trigger, filling two timestamped ring buffers.

Start order mirrors the lab: arm the camera (waits for triggers), start the MP160 through AcqKnowledge,
then start the trigger box. Pulse 0 is the first frame and session sample 0.

Data flows one way: devices -> rings (``frames``, ``ecg``) -> consumers (recorder, spotting engine, GUI),
which read the rings with their own readers. Faults never stop the other device: a lost ECG connection is
reported and marked while video capture goes on; a camera timeout burst is counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from acquisition.camera import Camera, CameraTimeout
from acquisition.ecg import EcgSource, EcgStallError
from acquisition.errors import DeviceError
from acquisition.ring_buffer import Reader, RingBuffer
from acquisition.session import FRAME_INDEX_DTYPE
from acquisition.sync import FrameSync, StampResolver, TriggerClock
from acquisition.trigger import TriggerBox

log = logging.getLogger(__name__)

ECG_READ_TIMEOUT_S = 0.1
LOSSLESS_FRACTION = 0.5  # a lossless reader may fall this fraction of the ring behind, no further
LOSSLESS_WAIT_S = 0.001
TRAILING_FAULT_S = 0.5  # pulses without frames at the end beyond this much video: a camera fault


@dataclass(frozen=True)
class AcquisitionSettings:
    fps: float
    ecg_rate: float
    trigger_rate: float
    pulse_width_us: int
    trigger_threshold_v: float
    frame_seconds: float  # ring buffer memory, in seconds of data
    ecg_seconds: float
    camera_timeout_burst: int  # consecutive camera timeouts that end capture


@dataclass(frozen=True)
class AcquisitionEvent:
    """Something the recorder writes into the session's events (sample on the session clock)."""

    sample: int
    kind: str  # "gap" or "fault"
    label: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AcquisitionStatus:
    running: bool
    frames: int
    frames_dropped: int
    camera_timeouts: int
    camera_fps: float  # the camera's frame rate, by its own exposure clock
    delivery_fps: float  # frames reaching the host per second (bursts after a stall; replay at maximum speed)
    ecg_samples: int
    ecg_lost: int
    ecg_rate: float
    pulses_seen: int
    edges_inferred: int  # trigger edges that fell into ECG gaps, placed on the pulse grid
    worst_sync_error_frames: int
    worst_stamp_prediction_samples: int
    faults: tuple[str, ...]


class Acquisition:
    """Owns the device threads and the ring buffers; consumers read ``frames`` and ``ecg``."""

    def __init__(self, camera: Camera, ecg: EcgSource, trigger: TriggerBox,
                 settings: AcquisitionSettings) -> None:
        self.camera = camera
        self.ecg_source = ecg
        self.trigger = trigger
        self.settings = settings
        self.clock = TriggerClock(settings.ecg_rate, settings.trigger_rate, settings.trigger_threshold_v)
        self.sync = FrameSync(self.clock, settings.fps)
        self.frames: RingBuffer | None = None
        self.ecg = RingBuffer.for_samples(settings.ecg_seconds, settings.ecg_rate, n_channels=2)
        self.events: deque[AcquisitionEvent] = deque()
        self.faults: list[str] = []
        self.ecg_failed = threading.Event()
        self.stamps = StampResolver(self.clock, self.ecg_failed)  # every consumer resolves stamps by it
        self.camera_failed = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ecg_rows_written = 0
        self._ecg_lost = 0
        self._last_stamp = -1
        # (host arrival ns, camera exposure us) of the last second of frames
        self._fps_window: deque[tuple[int, int]] = deque(maxlen=int(settings.fps) + 1)
        self._trigger_column = 1
        self._lossless_readers: list[Reader] = []

    def hold_for(self, reader: Reader) -> None:
        """Make capture wait for ``reader`` instead of overwriting what it has not read. Only for playback
        at maximum speed (a live camera cannot wait): there it makes a replay lossless."""
        self._lossless_readers.append(reader)

    def _wait_for_lossless_readers(self, ring: RingBuffer, capacity: int) -> None:
        limit = capacity * LOSSLESS_FRACTION
        while not self._stop.is_set() and any(
                ring.write_count - r.next_seq >= limit for r in self._lossless_readers):
            time.sleep(LOSSLESS_WAIT_S)

    # -- life cycle -----------------------------------------------------------------------------------
    def open(self) -> None:
        """Open and arm the devices and allocate the rings; consumers attach their readers after this."""
        try:
            self._open_devices()
        except BaseException:
            self._close_devices()
            raise

    def start(self) -> None:
        """Start the threads, then the trigger pulses: pulse 0 is frame 0 and session sample 0."""
        self._threads = [
            threading.Thread(target=self._capture_loop, name="capture", daemon=True),
            threading.Thread(target=self._ecg_loop, name="ecg", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self.trigger.start()
        except BaseException:
            self.stop()
            raise

    def _open_devices(self) -> None:
        self.camera.open()
        self.frames = RingBuffer.for_frames(self.settings.frame_seconds, self.settings.fps,
                                            self.camera.frame_shape)
        self.camera.start()
        self.ecg_source.start()
        labels = self.ecg_source.channels
        if len(labels) < 2:
            raise DeviceError(f"the ECG source delivers {labels}; an ECG and a trigger channel are needed")
        self.trigger.open()
        self.trigger.configure(self.settings.trigger_rate, self.settings.pulse_width_us)

    def stop(self, drain_s: float = 0.5) -> None:
        """Stop the pulses, let the last frames and samples arrive, then stop the threads and devices."""
        try:
            self.trigger.stop()
        except DeviceError as exc:
            self._fault(f"trigger box: {exc}")
        deadline = time.monotonic() + drain_s
        target = self.clock.pulse_count
        while time.monotonic() < deadline and self.sync.frames_stamped + self.sync.frames_dropped < target:
            time.sleep(0.01)
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._close_devices()
        first_missing = self.sync.frames_stamped + self.sync.frames_dropped
        trailing = self.sync.close(self.clock.pulse_count)
        if trailing > TRAILING_FAULT_S * self.settings.fps:
            self._fault(f"camera: the frames of the last {trailing} trigger pulses never came "
                        f"({trailing / self.settings.fps:.1f} s of video)")
        if trailing:
            self.events.append(AcquisitionEvent(self.clock.predict(first_missing), "gap", "frames dropped",
                                                {"frames": trailing, "before_pulse": self.clock.pulse_count,
                                                 "at_end": True}))

    def _close_devices(self) -> None:
        for name, close in (("camera", self.camera.close), ("ECG", self.ecg_source.close),
                            ("trigger box", self.trigger.close)):
            try:
                close()
            except DeviceError as exc:
                self._fault(f"{name}: {exc}")

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def thread_ids(self) -> list[int]:
        return [t.native_id for t in self._threads if t.native_id is not None]

    def _fault(self, message: str) -> None:
        log.warning(message)  # as it happens (the command's last line names every fault again)
        self.faults.append(message)

    # -- camera thread --------------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        """Capture until stopped; an unexpected error ends capture as a camera fault, never silently."""
        try:
            self._capture()
        except Exception as exc:
            log.debug("capture thread failed", exc_info=True)
            self._fault(f"camera: capture stopped on an unexpected error ({type(exc).__name__}: {exc})")
            self.events.append(AcquisitionEvent(self._last_stamp + 1, "fault", "camera lost"))
            self.camera_failed.set()

    def _capture(self) -> None:
        ring = self.frames
        assert ring is not None
        meta = np.zeros((), dtype=FRAME_INDEX_DTYPE)
        consecutive_timeouts = 0
        capacity = ring.capacity
        while not self._stop.is_set():
            if self._lossless_readers:
                self._wait_for_lossless_readers(ring, capacity)
            slot = ring.claim()
            try:
                frame = self.camera.grab(out=slot)
            except CameraTimeout:
                ring.abandon()
                consecutive_timeouts += 1
                if consecutive_timeouts == self.settings.camera_timeout_burst:
                    self._fault(f"camera: {consecutive_timeouts} timeouts in a row (no trigger pulses?)")
                    self.events.append(AcquisitionEvent(self._last_stamp + 1, "fault", "camera timeouts",
                                                        {"timeouts": consecutive_timeouts}))
                continue
            except DeviceError as exc:
                ring.abandon()
                self._fault(f"camera: {exc}")
                self.camera_failed.set()
                self.events.append(AcquisitionEvent(self._last_stamp + 1, "fault", "camera lost"))
                return
            consecutive_timeouts = 0
            pulse, stamp, dropped = self.sync.stamp(frame.camera_frame, frame.camera_ts_us)
            stamp = max(stamp, self._last_stamp)  # ring stamps never go back
            if dropped:
                self.events.append(AcquisitionEvent(stamp, "gap", "frames dropped",
                                                    {"frames": dropped, "before_pulse": pulse}))
            meta["camera_frame"] = frame.camera_frame
            meta["camera_ts_us"] = frame.camera_ts_us
            meta["host_ns"] = frame.host_ns
            meta["trigger_pulse"] = pulse
            meta["ecg_sample"] = stamp
            ring.commit(meta)
            self._last_stamp = stamp
            self._fps_window.append((frame.host_ns, frame.camera_ts_us))

    # -- ECG thread -----------------------------------------------------------------------------------
    def _ecg_loop(self) -> None:
        """Read ECG until stopped; an unexpected error ends it as an ECG loss (video goes on)."""
        try:
            self._read_ecg()
        except Exception as exc:
            log.debug("ECG thread failed", exc_info=True)
            self._fault(f"ECG: reading stopped on an unexpected error ({type(exc).__name__}: {exc})")
            self.events.append(AcquisitionEvent(self._ecg_rows_written, "gap", "ECG lost",
                                                {"reason": str(exc)}))
            self.ecg_failed.set()

    def _read_ecg(self) -> None:
        while not self._stop.is_set():
            try:
                block = self.ecg_source.read(ECG_READ_TIMEOUT_S)
            except EcgStallError as exc:
                self._fault(f"ECG: {exc}")
                self.events.append(AcquisitionEvent(self._ecg_rows_written, "fault", "ECG stall"))
                continue
            except DeviceError as exc:
                self._fault(f"ECG: {exc}")
                self.ecg_failed.set()
                self.events.append(AcquisitionEvent(self._ecg_rows_written, "gap", "ECG lost",
                                                    {"reason": str(exc)}))
                return
            if block is None or block.n_samples == 0:
                continue
            first_row = block.first_sample // block.step
            self.clock.feed(first_row, block.data[:, self._trigger_column])
            origin = self.clock.origin
            if origin is None:
                continue  # before pulse 0: not part of the session
            rows = block.data
            session_row = first_row - origin
            if session_row < 0:
                rows = rows[-session_row:]
                session_row = 0
            if session_row > self._ecg_rows_written:  # samples lost in transport: keep the clock, mark it
                missing = session_row - self._ecg_rows_written
                self._ecg_lost += missing
                self.ecg.write_block(np.full((missing, rows.shape[1]), np.nan))
                self.events.append(AcquisitionEvent(self._ecg_rows_written, "gap", "ECG samples lost",
                                                    {"samples": missing}))
                self._ecg_rows_written += missing
            if len(rows):
                self.ecg.write_block(rows)
                self._ecg_rows_written += len(rows)

    # -- status ---------------------------------------------------------------------------------------
    def status(self) -> AcquisitionStatus:
        window = list(self._fps_window)
        host = [h for h, _ in window]
        exposure = [e for _, e in window]

        def rate(times: list[int], seconds_per_unit: float) -> float:
            if len(times) < 2 or times[-1] <= times[0]:
                return 0.0
            return (len(times) - 1) / ((times[-1] - times[0]) * seconds_per_unit)
        return AcquisitionStatus(
            running=self.running,
            frames=self.sync.frames_stamped,
            frames_dropped=self.sync.frames_dropped,
            camera_timeouts=self.camera.timeouts,
            camera_fps=rate(exposure, 1e-6),
            delivery_fps=rate(host, 1e-9),
            ecg_samples=self._ecg_rows_written,
            ecg_lost=self._ecg_lost,  # gaps in the sample count (includes what the source dropped)
            ecg_rate=self.settings.ecg_rate,
            pulses_seen=self.clock.pulse_count,
            edges_inferred=self.clock.edges_inferred,
            worst_sync_error_frames=self.sync.worst_error_frames,
            worst_stamp_prediction_samples=self.sync.worst_prediction_samples,
            faults=tuple(self.faults),
        )
