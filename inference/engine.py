"""The spotting engine: per-frame features once, sliding windows scored by the ONNX model, candidates
merged and phased, the heart-rate-slope filter, alerts to sinks.

It is fed frames (with their ECG-clock stamps) and ECG samples, from the ring buffers in live mode
(:class:`EngineThreads`) or straight from a session file offline. Time is the session clock: ECG samples
from pulse 0; windows are laid out in milliseconds so that any frame rate works.

A candidate's decision waits for the first R-peak after its apex (HRS there needs the beat after it) and
no longer: then HRS at the apex is compared with eta x the mean HRS of the trial (or a trailing window).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np

from acquisition.readers.annotations import classify_expression
from inference.alerts import Alert, AlertSink, deliver_all
from inference.features.ecg import ecg_wave_window, hrv_features
from inference.features.spec import FeatureSpec
from inference.features.video import VideoFeatureExtractor, video_window
from inference.runtime import SpottingModel
from inference.signal.causal import CausalHeartRate
from inference.spotting import Candidate, locate_phases, merge_windows, motion_profile

log = logging.getLogger(__name__)

HISTORY_S = 90.0  # features and ECG kept for windows, phase location and plots
PHASE_CONTEXT_MS = 400.0  # motion profile kept around a candidate for phase location
FILTER_PAD_S = 1.0  # ECG read before a window's context (the band-pass filter's padding)


@dataclass(frozen=True)
class EngineSettings:
    eta: float = 2.0
    filter_enabled: bool = True
    threshold: float | None = None  # None: the model's own
    hrs_baseline: str = "trial"  # "trial": since the trial started; "trailing": the last trailing_s
    trailing_s: float = 60.0
    max_gap_windows: int = 1  # below-threshold windows tolerated inside one candidate
    decision_timeout_s: float = 3.0  # signal time after the apex without an R-peak: decide without ECG
    batch_max: int = 16


@dataclass
class EngineStats:
    frames: int = 0
    windows_scored: int = 0
    candidates: int = 0
    alerts: int = 0
    genuine: int = 0
    score_seconds: float = 0.0
    feature_seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)


class _History:
    """The last ``capacity`` rows of an append-only series, addressed by absolute row index."""

    def __init__(self, capacity: int, shape: tuple[int, ...] = (), dtype: type = np.float64) -> None:
        self._data = np.zeros((2 * capacity, *shape), dtype=dtype)
        self._capacity = capacity
        self._first = 0  # absolute index of row 0 of _data
        self._length = 0

    @property
    def end(self) -> int:
        return self._first + self._length

    @property
    def start(self) -> int:
        return self._first

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if len(rows) > self._capacity:
            self._first += self._length + len(rows) - self._capacity
            self._length = 0
            rows = rows[-self._capacity :]
        if self._length + len(rows) > len(self._data):
            keep = self._capacity - len(rows)
            self._data[:keep] = self._data[self._length - keep : self._length]
            self._first += self._length - keep
            self._length = keep
        self._data[self._length : self._length + len(rows)] = rows
        self._length += len(rows)

    def get(self, start: int, stop: int) -> tuple[np.ndarray, int]:
        """Rows ``start..stop-1`` that are still kept, and the absolute index of the first one returned."""
        lo = max(start, self._first)
        hi = min(stop, self.end)
        if hi <= lo:
            return self._data[:0], lo
        return self._data[lo - self._first : hi - self._first], lo


@dataclass
class _Pending:
    candidate: Candidate
    onset: int
    apex: int
    offset: int
    apex_sample: int
    apex_host_ns: int


class SpottingEngine:
    """Single-threaded core; :class:`EngineThreads` runs it on the ring buffers."""

    def __init__(
        self,
        model: SpottingModel,
        fps: float,
        ecg_rate: float,
        sinks: Sequence[AlertSink],
        *,
        settings: EngineSettings | None = None,
        session_id: str = "",
        wall_clock_start: dt.datetime | None = None,
    ) -> None:
        self.model = model
        self.spec: FeatureSpec = model.spec
        self.fps = fps
        self.ecg_rate = ecg_rate
        self.settings = settings or EngineSettings()
        self.threshold = self.settings.threshold if self.settings.threshold is not None else model.threshold
        self.sinks = list(sinks)
        self.session_id = session_id
        self.wall_clock_start = wall_clock_start
        self.stats = EngineStats()
        self.extractor = VideoFeatureExtractor(fps, self.spec)
        history_frames = round(HISTORY_S * fps)
        self.features = _History(history_frames, (self.spec.video_channels,), np.float32)
        self.frame_ms = _History(history_frames)
        self.frame_host_ns = _History(history_frames, dtype=np.int64)
        self.ecg = _History(round(HISTORY_S * ecg_rate))
        self.heart = CausalHeartRate(ecg_rate)
        self.trial_start_sample = 0
        # scored windows, for the report and the GUI
        self.window_starts: list[float] = []
        self.window_scores: list[float] = []
        self.alerts: list[Alert] = []
        self._next_window_ms = 0.0
        self._open: list[tuple[float, float]] = []  # (start_ms, score) of the candidate being built
        self._gap = 0
        self._pending: list[_Pending] = []

    # -- input ----------------------------------------------------------------------------------------
    def push_frame(self, frame: np.ndarray, ecg_sample: int, host_ns: int = 0) -> None:
        self.add_features(self.frame_features(frame), ecg_sample, host_ns)

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        """The next frame's motion features (frames in order; touches only the extractor's state)."""
        started = time.perf_counter()
        features = self.extractor.push(frame)
        self.stats.feature_seconds += time.perf_counter() - started
        return features

    def add_features(self, features: np.ndarray, ecg_sample: int, host_ns: int = 0) -> None:
        """Append one frame's features, stamped with its ECG sample (see :meth:`frame_features`)."""
        self.features.append(features[None])
        self.frame_ms.append(np.array([ecg_sample / self.ecg_rate * 1000.0]))
        self.frame_host_ns.append(np.array([host_ns]))
        self.stats.frames += 1

    def push_ecg(self, samples: np.ndarray, lock: AbstractContextManager | None = None) -> None:
        """Consecutive ECG samples of the lead (NaN where samples were lost). With ``lock`` (the one
        :meth:`step` takes), R-peak detection runs outside it: the heart's state is only appended to."""
        samples = np.asarray(samples, dtype=float)
        with lock or contextlib.nullcontext():
            self.ecg.append(samples)
        self.heart.push(samples)

    def mark_trial_start(self, sample: int) -> None:
        self.trial_start_sample = sample

    # -- windows --------------------------------------------------------------------------------------
    def ready_windows(self, final: bool = False) -> list[float]:
        """Window starts whose video and ECG context have arrived."""
        spec = self.spec
        if self.frame_ms.end == 0:
            return []
        last_frame_ms = float(self.frame_ms.get(self.frame_ms.end - 1, self.frame_ms.end)[0][0])
        # the ECG both stored and through the R-peak detector (which may run a little behind, unlocked)
        ecg_ms = min(self.ecg.end, self.heart.samples_seen) / self.ecg_rate * 1000.0
        ready = []
        while True:
            start = self._next_window_ms
            end = start + spec.window_ms
            if not final and (last_frame_ms < end or ecg_ms < end + spec.ecg_post_ms):
                break
            if final and start + spec.window_ms > max(last_frame_ms, 0.0):
                break
            ready.append(start)
            self._next_window_ms += spec.stride_ms
        return ready

    def build_windows(self, starts: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        spec = self.spec
        n = len(starts)
        video = np.zeros((n, spec.video_steps, spec.video_channels), np.float32)
        ecg = np.zeros((n, spec.ecg_steps), np.float32)
        hrv = np.zeros((n, len(spec.hrv_features)), np.float32)
        frames_per_window = spec.frames(spec.window_ms, self.fps) + 2
        for i, start_ms in enumerate(starts):
            first = self._frame_index_at(start_ms) - 1
            feats, _ = self.features.get(first, first + frames_per_window + 2)
            times, _ = self.frame_ms.get(first, first + frames_per_window + 2)
            video[i] = video_window(feats, times, start_ms, spec)
            start_sample = round(start_ms * self.ecg_rate / 1000.0)
            lo = (
                start_sample
                - spec.samples(spec.ecg_pre_ms, self.ecg_rate)
                - round(FILTER_PAD_S * self.ecg_rate)
            )
            hi = start_sample + spec.samples(spec.window_ms + spec.ecg_post_ms, self.ecg_rate)
            segment, seg_start = self.ecg.get(lo, hi)
            if seg_start > lo:  # before the recording began, or no longer kept: missing samples
                segment = np.concatenate([np.full(seg_start - lo, np.nan), segment])
            ecg[i] = ecg_wave_window(segment, self.ecg_rate, start_sample - lo, spec)
            # only beats confirmed by the time sample ``hi`` arrived: the same whatever the ECG's lead
            confirmed = self.heart.peaks_confirmed_by(hi)
            hrv[i] = hrv_features(confirmed, self.ecg_rate, hi, spec)
        return video, ecg, hrv

    def _frame_index_at(self, ms: float) -> int:
        times, first = self.frame_ms.get(self.frame_ms.start, self.frame_ms.end)
        return first + int(np.searchsorted(times, ms, side="left"))

    def _run_model(self, inputs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        started = time.perf_counter()
        scores = self.model.score(*inputs)
        self.stats.score_seconds += time.perf_counter() - started
        self.stats.windows_scored += len(inputs[0])
        return scores

    # -- candidates and decisions ---------------------------------------------------------------------
    def consume_scores(self, starts: list[float], scores: np.ndarray) -> None:
        for start, score in zip(starts, scores, strict=True):
            self.window_starts.append(start)
            self.window_scores.append(float(score))
            if score >= self.threshold:
                self._open.append((start, float(score)))
                self._gap = 0
            elif self._open:
                self._gap += 1
                if self._gap > self.settings.max_gap_windows:
                    self._close_candidate()

    def _close_candidate(self) -> None:
        starts = np.array([s for s, _ in self._open])
        scores = np.array([c for _, c in self._open])
        self._open, self._gap = [], 0
        candidate = merge_windows(
            starts, scores, self.threshold, self.spec.window_ms, max_gap_windows=len(starts)
        )[0]
        self.stats.candidates += 1
        first = self._frame_index_at(candidate.start_ms - PHASE_CONTEXT_MS)
        last = self._frame_index_at(candidate.end_ms + PHASE_CONTEXT_MS)
        feats, offset = self.features.get(first, last)
        times, _ = self.frame_ms.get(first, last)
        hosts, _ = self.frame_host_ns.get(first, last)
        onset, apex, off = locate_phases(motion_profile(feats), times, candidate)
        apex_sample = round(times[apex] * self.ecg_rate / 1000.0)
        self._pending.append(
            _Pending(candidate, offset + onset, offset + apex, offset + off, apex_sample, int(hosts[apex]))
        )

    def decide_pending(self, final: bool = False) -> None:
        still = []
        for pending in self._pending:
            timed_out = (
                self.heart.samples_seen - pending.apex_sample
                > self.settings.decision_timeout_s * self.ecg_rate
            )
            if self.heart.covers(pending.apex_sample) or final or timed_out:
                self._emit(pending)
            else:
                still.append(pending)
        self._pending = still

    def _emit(self, pending: _Pending) -> None:
        settings = self.settings
        now = self.heart.samples_seen
        hrs_apex = (
            self.heart.hrs_at(pending.apex_sample) if self.heart.covers(pending.apex_sample) else float("nan")
        )
        base = (
            self.trial_start_sample
            if settings.hrs_baseline == "trial"
            else max(0, now - round(settings.trailing_s * self.ecg_rate))
        )
        hrs_mean = self.heart.mean_hrs(base, now)
        if not settings.filter_enabled or not np.isfinite(hrs_apex) or not np.isfinite(hrs_mean):
            decision = "unfiltered"
        else:
            decision = "genuine" if hrs_apex > settings.eta * hrs_mean else "rejected"
        times = [self._time_of(i) for i in (pending.onset, pending.apex, pending.offset)]
        kind = _classify(times)
        latency = (time.monotonic_ns() - pending.apex_host_ns) / 1e9 if pending.apex_host_ns > 0 else 0.0
        alert = Alert(
            session_id=self.session_id,
            onset_frame=pending.onset,
            apex_frame=pending.apex,
            offset_frame=pending.offset,
            onset_s=times[0],
            apex_s=times[1],
            offset_s=times[2],
            onset_wall=self._wall(times[0]),
            apex_wall=self._wall(times[1]),
            offset_wall=self._wall(times[2]),
            score=pending.candidate.peak_score,
            hrs_apex=float(hrs_apex),
            hrs_mean=float(hrs_mean),
            eta=settings.eta,
            decision=decision,
            kind=kind,
            latency_s=latency,
        )
        self.alerts.append(alert)
        self.stats.alerts += 1
        self.stats.genuine += alert.genuine
        if pending.apex_host_ns > 0:
            self.stats.latencies_s.append(latency)
        deliver_all(self.sinks, alert)

    def _time_of(self, frame: int) -> float:
        times, _ = self.frame_ms.get(frame, frame + 1)
        return float(times[0]) / 1000.0 if len(times) else frame / self.fps

    def _wall(self, seconds: float) -> str:
        if self.wall_clock_start is None:
            return ""
        return (self.wall_clock_start + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")

    # -- driving --------------------------------------------------------------------------------------
    def step(self, final: bool = False, lock: AbstractContextManager | None = None) -> int:
        """Score what is ready and decide what can be decided; returns the windows scored.

        ``lock`` guards the engine's state against a thread pushing frames and ECG meanwhile; the model runs
        outside it, so that features and scoring can use both cores."""
        lock = lock or contextlib.nullcontext()
        with lock:
            starts = self.ready_windows(final)
        for first in range(0, len(starts), self.settings.batch_max):
            batch = starts[first : first + self.settings.batch_max]
            with lock:
                inputs = self.build_windows(batch)
            scores = self._run_model(inputs)
            with lock:
                self.consume_scores(batch, scores)
        with lock:
            if final and self._open:
                self._close_candidate()
            self.decide_pending(final)
        return len(starts)

    def finish(self) -> None:
        self.step(final=True)
        for sink in self.sinks:
            sink.close()


def _classify(times: list[float]) -> str:
    return classify_expression(times[0], times[1], times[2])


class EngineThreads:
    """Runs a :class:`SpottingEngine` on the acquisition's ring buffers: a feature thread (frames into
    facial motion features), a heart thread (ECG into R-peaks and heart rate) and a scoring thread (ONNX,
    candidates, decisions, alerts)."""

    POLL_S = 0.005

    def __init__(self, engine: SpottingEngine, frames_ring, ecg_ring, *, lossless_hold=None,
                 edge_of: Callable[[int], int | None] | None = None,
                 ecg_lost: threading.Event | None = None) -> None:
        """``edge_of(pulse)``: the measured trigger edge of a pulse (None until its ECG arrived); frames wait
        for it, as the recorder's do, so the engine sees the same stamps live and offline. Without it (or
        once ``ecg_lost`` is set) the capture's predicted stamps are used."""
        self.engine = engine
        self._edge_of = edge_of
        self._ecg_lost = ecg_lost or threading.Event()
        self._waiting: deque[tuple[np.ndarray, int, int, int]] = deque()  # (frame, pulse, stamp, host_ns)
        self._frames = frames_ring.reader(from_seq=0)
        self._ecg = ecg_ring.reader(from_seq=0)
        if lossless_hold is not None:  # replay at maximum speed: capture waits for the engine
            lossless_hold(self._frames)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.frames_lost = 0
        self._threads = [
            threading.Thread(target=self._feature_loop, name="features", daemon=True),
            threading.Thread(target=self._heart_loop, name="heart", daemon=True),
            threading.Thread(target=self._score_loop, name="scoring", daemon=True),
        ]
        self.error: BaseException | None = None

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        with self._lock:
            self.engine.finish()

    def _feature_loop(self) -> None:
        self._loop(self._pull, "feature")

    def _heart_loop(self) -> None:
        self._loop(self._pull_ecg, "heart")

    def _loop(self, pull: Callable[[bool], bool], name: str) -> None:
        try:
            while not self._stop.is_set():
                if not pull(False):
                    time.sleep(self.POLL_S)
            while pull(True):  # drain what is left in the ring
                pass
        except BaseException as exc:
            log.exception("engine %s thread failed", name)
            self.error = exc

    def _pull_ecg(self, final: bool) -> bool:
        """ECG into the engine: R-peaks and heart rate (its own thread: the detector runs beside the video
        features, on the other core)."""
        ecg = self._ecg.read_new(copy=True)
        if len(ecg.items):
            self.engine.push_ecg(ecg.items[:, 0], lock=self._lock)
        return bool(len(ecg.items))

    def _stamp(self, pulse: int, predicted: int, final: bool) -> int | None:
        """The frame's measured trigger edge; None while it has to wait for it."""
        if self._edge_of is None or self._ecg_lost.is_set():
            return predicted
        measured = self._edge_of(pulse)
        if measured is None:
            return predicted if final else None
        return measured

    def _pull(self, final: bool) -> bool:
        """Frames into features, each stamped with its trigger edge's ECG sample; features are computed
        outside the engine's lock and handed over in one go."""
        frames = self._frames.read_new(max_items=32, copy=False)
        self.frames_lost += frames.lost
        done: list[tuple[np.ndarray, int, int]] = []  # (features, stamp, host_ns)
        while self._waiting:  # frames that waited for their edge go first, in order
            frame, pulse, predicted, host_ns = self._waiting[0]
            stamp = self._stamp(pulse, predicted, final)
            if stamp is None:
                break
            self._waiting.popleft()
            done.append((self.engine.frame_features(frame), stamp, host_ns))
        for i in range(len(frames.items)):
            meta = frames.meta[i]
            pulse, predicted = int(meta["trigger_pulse"]), int(meta["ecg_sample"])
            host_ns = int(meta["host_ns"])
            stamp = None if self._waiting else self._stamp(pulse, predicted, final)
            if stamp is None:  # copy: the ring may overwrite the frame while it waits
                self._waiting.append((np.array(frames.items[i]), pulse, predicted, host_ns))
            else:
                done.append((self.engine.frame_features(frames.items[i]), stamp, host_ns))
        if done:
            with self._lock:
                for features, stamp, host_ns in done:
                    self.engine.add_features(features, stamp, host_ns)
        return bool(len(frames.items))

    def _score_loop(self) -> None:
        try:
            while not self._stop.is_set():
                scored = self.engine.step(lock=self._lock)
                if not scored:
                    time.sleep(self.POLL_S)
        except BaseException as exc:
            log.exception("engine scoring thread failed")
            self.error = exc
