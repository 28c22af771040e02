"""Frame-to-ECG synchronization on the trigger clock.

The trigger box sends pulse *p* to the camera (which exposes frame *p*) and to an MP160 digital input
(recorded beside the ECG). So:

- the session clock is the ECG row index (at the ECG rate) counted from the first rising edge: the
  trigger-aligned sample index, sample 0 = pulse 0;
- frame *p* is stamped with the sample of edge *p*; the camera's own counter (``acq_nframe``) says which
  pulse a frame answers, so frames lost in transport show up as gaps in the pulse numbers;
- before edge *p* has reached the host (ECG arrives in network packets), the stamp is predicted from the
  edges seen so far; the recorder writes the measured edge, and the difference is the sync error;
- the worst misalignment is also checked independently of the counters: the camera's exposure timestamps
  must advance like the trigger edges do;
- edges that fell into an ECG gap (samples lost in transport, or NaN rows where a recording lost them) are
  inferred on the pulse grid, so that the pulses after the gap keep their numbers, and counted as such.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass

import numpy as np


def rising_edges(signal: np.ndarray, threshold: float, previous_high: bool = False) -> np.ndarray:
    """Indices where ``signal`` goes from <= threshold to > threshold (the first sample counts when the
    sample before the block, summarized by ``previous_high``, was low)."""
    high = np.asarray(signal) > threshold
    if high.size == 0:
        return np.empty(0, dtype=np.int64)
    edges = np.flatnonzero(high[1:] & ~high[:-1]) + 1
    if high[0] and not previous_high:
        edges = np.r_[0, edges]
    return edges.astype(np.int64)


@dataclass(frozen=True)
class SyncStats:
    pulses_seen: int  # rising edges found in the trigger channel
    frames_stamped: int
    frames_dropped: int  # pulses whose frame never reached the host
    worst_sync_error_frames: int  # frames whose camera exposure time disagrees with their trigger edge
    worst_stamp_prediction_samples: int  # ring stamps predicted before the edge arrived: worst miss
    ecg_covered_until: int  # session samples processed from the trigger channel
    edges_inferred: int  # edges that fell into ECG gaps, placed on the pulse grid


class TriggerClock:
    """Trigger edges on the ECG clock, fed block by block by the ECG thread; read by any thread."""

    def __init__(self, ecg_rate: float, trigger_rate: float, threshold: float) -> None:
        if ecg_rate <= 0 or trigger_rate <= 0:
            raise ValueError("ECG and trigger rates must be positive")
        self.ecg_rate = ecg_rate
        self.trigger_rate = trigger_rate
        self.threshold = threshold
        self.nominal_period = ecg_rate / trigger_rate  # ECG samples per pulse
        self._edges = array("q")  # absolute ECG row of each edge
        self._origin: int | None = None
        self._rows_seen = 0
        self._previous_high = False
        self._gap_since_edge = False  # ECG rows were missing (or NaN) since the last edge
        self._previous_nan = False
        self.edges_inferred = 0
        self._lock = threading.Lock()
        # exact integer sums for the least-squares line edge = a + b * pulse (Python ints never overflow)
        self._sum_p = self._sum_e = self._sum_pp = self._sum_pe = 0

    # -- ECG thread -----------------------------------------------------------------------------------
    def feed(self, first_row: int, trigger: np.ndarray) -> int:
        """Scan a block of the trigger channel starting at absolute ECG row ``first_row``; return the
        number of new edges (inferred ones included). Rows must arrive in order; a gap (lost samples, or
        NaN rows) is allowed: the edges it hid are put on the pulse grid between the edges around it."""
        trigger = np.asarray(trigger, dtype=np.float64)
        after_gap = first_row > self._rows_seen or self._previous_nan
        if first_row > self._rows_seen:
            self._gap_since_edge = True
        missing = np.isnan(trigger)
        local = rising_edges(trigger, self.threshold, self._previous_high)
        # a pulse already high when the data comes back had its edge in the gap: not a measured edge
        unknown_before = np.r_[after_gap, missing[:-1]] if len(trigger) else np.empty(0, bool)
        edges = local[~unknown_before[local]] + first_row
        gap_rows = np.flatnonzero(missing) + first_row if missing.any() else np.empty(0, np.int64)
        added = 0
        with self._lock:
            if self._origin is None and len(edges):
                self._origin = int(edges[0])
            for edge in edges.tolist():
                gap = self._gap_since_edge or bool(gap_rows.size and gap_rows[0] < edge)
                if gap and len(self._edges):
                    added += self._infer_gap_edges(self._edges[-1], edge)
                self._gap_since_edge = False
                gap_rows = gap_rows[gap_rows > edge]
                self._append(edge)
                added += 1
            if gap_rows.size:
                self._gap_since_edge = True
            self._rows_seen = first_row + len(trigger)
        if len(trigger):
            self._previous_high = bool(trigger[-1] > self.threshold)  # NaN: low
            self._previous_nan = bool(missing[-1])
        return added

    def _infer_gap_edges(self, before: int, after: int) -> int:
        """Edges between two measured ones across an ECG gap, on the nominal pulse grid."""
        periods = round((after - before) / self.nominal_period)
        for k in range(1, periods):
            self._append(int(np.ceil(before + k * (after - before) / periods - 1e-9)))
        self.edges_inferred += max(0, periods - 1)
        return max(0, periods - 1)

    def _append(self, edge: int) -> None:
        assert self._origin is not None
        pulse, rel = len(self._edges), edge - self._origin
        self._edges.append(edge)
        self._sum_p += pulse
        self._sum_e += rel
        self._sum_pp += pulse * pulse
        self._sum_pe += pulse * rel

    # -- any thread -----------------------------------------------------------------------------------
    @property
    def origin(self) -> int | None:
        """Absolute ECG row of pulse 0 (session sample 0), once seen."""
        return self._origin

    @property
    def pulse_count(self) -> int:
        return len(self._edges)

    @property
    def covered_until(self) -> int:
        """Session samples (relative to the origin) already scanned for edges."""
        return 0 if self._origin is None else self._rows_seen - self._origin

    def edge(self, pulse: int) -> int | None:
        """Measured session sample of ``pulse``'s edge, or None while it has not arrived."""
        with self._lock:
            if self._origin is None or not 0 <= pulse < len(self._edges):
                return None
            return self._edges[pulse] - self._origin

    def predict(self, pulse: int) -> int:
        """Session sample of ``pulse``'s edge: measured if known, else extrapolated from the edges so far."""
        with self._lock:
            n = len(self._edges)
            if self._origin is not None and 0 <= pulse < n:
                return self._edges[pulse] - self._origin
            if n >= 2:
                # edges are the first ECG sample at or after each pulse: on average half a sample late
                slope = (n * self._sum_pe - self._sum_p * self._sum_e) / (n * self._sum_pp - self._sum_p**2)
                intercept = (self._sum_e - slope * self._sum_p) / n
                return int(np.ceil(intercept + slope * pulse - 0.5))
            return int(np.ceil(pulse * self.nominal_period - 1e-9))

    def edges(self) -> np.ndarray:
        """All measured edges as session samples."""
        with self._lock:
            origin = self._origin or 0
            return np.frombuffer(self._edges, dtype=np.int64).copy() - origin


class FrameSync:
    """Assigns pulse numbers and stamps to camera frames and keeps the sync statistics."""

    def __init__(self, clock: TriggerClock, fps: float) -> None:
        self.clock = clock
        self.fps = fps
        self._first_camera_frame: int | None = None
        self._first_camera_ts_us: int | None = None
        self._last_pulse = -1
        self.frames_stamped = 0
        self.frames_dropped = 0
        self.worst_error_frames = 0  # frames whose exposure time disagrees with their trigger edge
        self.worst_prediction_samples = 0  # ring stamps predicted before the edge arrived: worst miss

    def pulse_of(self, camera_frame: int) -> int:
        """Pulse number answered by a frame: the camera counts exposures, one per pulse."""
        if self._first_camera_frame is None:
            self._first_camera_frame = camera_frame
        return camera_frame - self._first_camera_frame

    def stamp(self, camera_frame: int, camera_ts_us: int) -> tuple[int, int, int]:
        """(pulse, predicted session sample, frames dropped before this one) for a newly captured frame."""
        pulse = self.pulse_of(camera_frame)
        if self._first_camera_ts_us is None:
            self._first_camera_ts_us = camera_ts_us
        dropped = max(0, pulse - self._last_pulse - 1)
        self.frames_dropped += dropped
        self._last_pulse = max(self._last_pulse, pulse)
        self.frames_stamped += 1
        return pulse, self.clock.predict(pulse), dropped

    def close(self, pulse_count: int) -> int:
        """At the end: the pulses after the last frame whose frames never came count as dropped (a frame
        cannot follow once capture has stopped); returns how many."""
        trailing = max(0, pulse_count - (self._last_pulse + 1))
        self.frames_dropped += trailing
        self._last_pulse = max(self._last_pulse, pulse_count - 1)
        return trailing

    def confirm(self, pulse: int, predicted: int, camera_ts_us: int) -> int | None:
        """The measured edge of ``pulse`` (None if not arrived yet). The sync error compares the camera's own
        exposure clock with the trigger edge the frame was assigned: a miscounted frame shows as a whole
        frame of error."""
        measured = self.clock.edge(pulse)
        if measured is None:
            return None
        self.worst_prediction_samples = max(self.worst_prediction_samples, abs(predicted - measured))
        if self._first_camera_ts_us is not None:
            camera_frames = (camera_ts_us - self._first_camera_ts_us) * 1e-6 * self.fps
            ecg_frames = measured / self.clock.nominal_period
            error = abs(round(camera_frames) - round(ecg_frames))
            self.worst_error_frames = max(self.worst_error_frames, error)
        return measured

    def stats(self) -> SyncStats:
        return SyncStats(
            pulses_seen=self.clock.pulse_count,
            frames_stamped=self.frames_stamped,
            frames_dropped=self.frames_dropped,
            worst_sync_error_frames=self.worst_error_frames,
            worst_stamp_prediction_samples=self.worst_prediction_samples,
            ecg_covered_until=self.clock.covered_until,
            edges_inferred=self.clock.edges_inferred,
        )


STAMP_WAIT_S = 2.0  # a frame waits at most this long (of ECG scanned past its predicted edge) for its edge


class StampResolver:
    """The one rule for a frame's stamp, used by every consumer (recorder, engine, GUI): its measured trigger
    edge once the ECG holding it has been scanned; the prediction when the ECG is lost, at the end, or when
    the trigger channel has been scanned ``STAMP_WAIT_S`` past the predicted edge without it (an edge lost
    in transport); None while it is still worth waiting."""

    def __init__(self, clock: TriggerClock, ecg_lost: threading.Event, wait_s: float = STAMP_WAIT_S) -> None:
        self.clock = clock
        self.ecg_lost = ecg_lost
        self._wait = round(wait_s * clock.ecg_rate) + clock.nominal_period

    def resolve(self, pulse: int, predicted: int, final: bool = False) -> int | None:
        measured = self.clock.edge(pulse)
        if measured is not None:
            return measured
        if final or self.ecg_lost.is_set() or self.clock.covered_until > predicted + self._wait:
            return predicted
        return None
