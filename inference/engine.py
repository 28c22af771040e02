"""The spotting engine: per-frame features once, a spotter's candidates, their measured extent, the
heart-rate-slope decision, alerts to sinks.

It is fed frames (with their ECG-clock stamps) and ECG samples, from the ring buffers in live mode
(:class:`EngineThreads`) or straight from a session file offline. Time is the session clock: ECG samples
from pulse 0; windows and extents are laid out in milliseconds so that any frame rate works.

One frame's way to an alert: :meth:`SpottingEngine.push_frame` turns it into motion features
(:mod:`inference.features.video`); the spotter (CMCL-Net's windows or the training-free flow spotter,
:mod:`inference.spotters`) proposes candidates; once ``extent.post_ms`` of motion after a candidate's apex
estimate has arrived its onset, apex and offset are measured (:mod:`inference.extent`) and it is called ME
or macro; then the HRS filter (:mod:`inference.decision`) decides at the sample its rule names, and the
alert goes to every sink.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from inference.alerts import Alert, AlertSink, deliver_all
from inference.decision import HrsFilter
from inference.extent import EXTENT, ExtentSettings
from inference.features.spec import FeatureSpec
from inference.features.video import TrackedFrame, VideoFeatureExtractor
from inference.history import History
from inference.signal.causal import CausalHeartRate
from inference.spotters import Candidate, Spotter
from inference.spotting import CandidateMeasurer, Measured, decide

if TYPE_CHECKING:
    from acquisition.sync import StampResolver

log = logging.getLogger(__name__)

HISTORY_S = 90.0  # features and ECG kept for windows, extents and plots


@dataclass(frozen=True)
class EngineSettings:
    hrs: HrsFilter = field(default_factory=HrsFilter)
    extent: ExtentSettings = EXTENT


@dataclass
class EngineStats:
    frames: int = 0
    candidates: int = 0
    alerts: int = 0
    genuine: int = 0
    score_seconds: float = 0.0
    track_seconds: float = 0.0  # following the face and cutting the crops (stage 1 of the features)
    flow_seconds: float = 0.0  # optical flow and pooling (stage 2)
    latencies_s: list[float] = field(default_factory=list)


@dataclass
class _Pending:
    measured: Measured
    apex_host_ns: int


class SpottingEngine:
    """Single-threaded core; :class:`EngineThreads` runs it on the ring buffers."""

    def __init__(
        self,
        spotter: Spotter,
        fps: float,
        ecg_rate: float,
        sinks: Sequence[AlertSink],
        *,
        settings: EngineSettings | None = None,
        session_id: str = "",
        wall_clock_start: dt.datetime | None = None,
    ) -> None:
        self.spotter = spotter
        self.spec: FeatureSpec = spotter.spec
        self.fps = fps
        self.ecg_rate = ecg_rate
        self.settings = settings or EngineSettings()
        self.sinks = list(sinks)
        self.session_id = session_id
        self.wall_clock_start = wall_clock_start
        self.stats = EngineStats()
        self.extractor = VideoFeatureExtractor(fps, self.spec)
        history_frames = round(HISTORY_S * fps)
        self.features = History(history_frames, (self.spec.video_channels,), np.float32)
        self.frame_ms = History(history_frames)
        self.frame_host_ns = History(history_frames, dtype=np.int64)
        self.ecg = History(round(HISTORY_S * ecg_rate))
        self.heart = CausalHeartRate(ecg_rate)
        self.trial_start_sample = 0
        self.alerts: list[Alert] = []
        self.measurer = CandidateMeasurer(self.spec.reference_ms, self.settings.extent)
        self._waiting: list[Candidate] = []  # candidates whose motion after the apex has not all arrived
        self._pending: list[_Pending] = []  # measured candidates waiting for the heart

    @property
    def threshold(self) -> float:
        return self.spotter.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.spotter.threshold = float(value)

    # -- input ----------------------------------------------------------------------------------------
    def push_frame(self, frame: np.ndarray, ecg_sample: int, host_ns: int = 0) -> None:
        self.add_features(self.frame_features(frame), ecg_sample, host_ns)

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        """The next frame's motion features (frames in order; touches only the extractor's state)."""
        return self.measure_frame(self.track_frame(frame))

    def track_frame(self, frame: np.ndarray) -> TrackedFrame:
        """Stage 1 of :meth:`frame_features` (the face followed, the crops cut), for frames in order."""
        started = time.perf_counter()
        tracked = self.extractor.track(frame)
        self.stats.track_seconds += time.perf_counter() - started
        return tracked

    def measure_frame(self, tracked: TrackedFrame) -> np.ndarray:
        """Stage 2 of :meth:`frame_features` (the flow), in the order stage 1 gave them; may run in
        another thread than stage 1."""
        started = time.perf_counter()
        features = self.extractor.measure(tracked)
        self.stats.flow_seconds += time.perf_counter() - started
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

    def frame_index_at(self, ms: float) -> int:
        """Index of the first kept frame at or after ``ms`` on the session clock."""
        times, first = self.frame_ms.get(self.frame_ms.start, self.frame_ms.end)
        return first + int(np.searchsorted(times, ms, side="left"))

    # -- candidates -----------------------------------------------------------------------------------
    def _measure(self, final: bool) -> None:
        """Measure the extent of every waiting candidate whose motion after the apex has arrived."""
        last = self.frame_ms.last()
        if last is None:
            return
        still = []
        features, first = self.features.get(self.features.start, self.features.end)
        times, _ = self.frame_ms.get(first, first + len(features))
        for candidate in self._waiting:
            if not final and not self.measurer.ready(candidate, float(last)):
                still.append(candidate)
                continue
            measured = self.measurer.measure(candidate, features, times, first)
            if measured is not None:
                hosts, _ = self.frame_host_ns.get(measured.extent.apex, measured.extent.apex + 1)
                self._pending.append(_Pending(measured, int(hosts[0]) if len(hosts) else 0))
        self._waiting = still

    def decide_pending(self, final: bool = False) -> None:
        still = []
        for pending in self._pending:
            decision = decide(pending.measured, self.heart, self.settings.hrs, self.trial_start_sample,
                              self.settings.extent, final)
            if decision is None:
                still.append(pending)
            else:
                self._emit(pending, *decision)
        self._pending = still

    def _emit(self, pending: _Pending, decision: str, hrs_apex: float, hrs_mean: float) -> None:
        extent = pending.measured.extent
        times = [t / 1000.0 for t in (extent.onset_ms, extent.apex_ms, extent.offset_ms)]
        latency = (time.monotonic_ns() - pending.apex_host_ns) / 1e9 if pending.apex_host_ns > 0 else 0.0
        alert = Alert(
            session_id=self.session_id,
            onset_frame=extent.onset,
            apex_frame=extent.apex,
            offset_frame=extent.offset,
            onset_s=times[0],
            apex_s=times[1],
            offset_s=times[2],
            onset_wall=self._wall(times[0]),
            apex_wall=self._wall(times[1]),
            offset_wall=self._wall(times[2]),
            score=pending.measured.candidate.peak_score,
            hrs_apex=float(hrs_apex),
            hrs_mean=float(hrs_mean),
            eta=self.settings.hrs.eta,
            decision=decision,
            kind=extent.kind,
            latency_s=latency,
        )
        self.alerts.append(alert)
        self.stats.alerts += 1
        self.stats.genuine += alert.genuine
        if pending.apex_host_ns > 0:
            self.stats.latencies_s.append(latency)
        deliver_all(self.sinks, alert)

    def _wall(self, seconds: float) -> str:
        if self.wall_clock_start is None:
            return ""
        return (self.wall_clock_start + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")

    # -- driving --------------------------------------------------------------------------------------
    def step(self, final: bool = False, lock: AbstractContextManager | None = None) -> int:
        """Run the spotter on what is ready, measure and decide what can be; returns the spotter's work
        items done (0: nothing was ready).

        ``lock`` guards the engine's state against a thread pushing frames and ECG meanwhile; the spotter's
        costly part (the model) runs outside it, so that features and scoring can use both cores."""
        lock = lock or contextlib.nullcontext()
        done = 0
        while True:
            with lock:
                work = self.spotter.prepare(self, final)
            if work is None:
                break
            started = time.perf_counter()
            result = self.spotter.compute(work)
            self.stats.score_seconds += time.perf_counter() - started
            with lock:
                found = self.spotter.collect(work, result, final)
                self._waiting.extend(found)
                self.stats.candidates += len(found)
            done += 1
        with lock:
            if final:
                found = self.spotter.flush()
                self._waiting.extend(found)
                self.stats.candidates += len(found)
            self._measure(final)
            self.decide_pending(final)
        return done

    def finish(self) -> None:
        self.step(final=True)
        for sink in self.sinks:
            sink.close()


class EngineThreads:
    """Runs a :class:`SpottingEngine` on the acquisition's ring buffers: two feature threads (one follows the
    face and cuts the aligned crops, the other computes the optical flow between them: each about half the
    work, on both cores), a heart thread (ECG into R-peaks and heart rate) and a scoring thread (the spotter,
    extents, decisions, alerts)."""

    POLL_S = 0.005
    TRACKED_FRAMES = 64  # frames between the two feature stages (the tracking waits when the flow lags)

    def __init__(self, engine: SpottingEngine, frames_ring, ecg_ring, *, lossless_hold=None,
                 stamps: StampResolver | None = None) -> None:
        """``stamps``: the acquisition's stamp resolver; frames wait for their measured trigger edge by its
        rule, as the recorder's do, so the engine sees the same stamps live, recorded and offline. Without
        it (a ring filled by something other than an acquisition) the capture's predicted stamps are used."""
        self.engine = engine
        self._stamps = stamps
        self._waiting: deque[tuple[np.ndarray, int, int, int]] = deque()  # (frame, pulse, stamp, host_ns)
        self._frames = frames_ring.reader(from_seq=0)
        self._ecg = ecg_ring.reader(from_seq=0)
        if lossless_hold is not None:  # replay at maximum speed: capture waits for the engine
            lossless_hold(self._frames)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.frames_lost = 0
        # (tracked frame, stamp, host_ns) from the tracking thread to the flow thread; None: no more
        self._tracked: queue.Queue[tuple[TrackedFrame, int, int] | None] = queue.Queue(self.TRACKED_FRAMES)
        self._flow_failed = threading.Event()
        self._threads = [
            threading.Thread(target=self._feature_loop, name="features", daemon=True),
            threading.Thread(target=self._flow_loop, name="flow", daemon=True),
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
        try:
            self._loop(self._pull, "feature")
        finally:
            self._hand_over(None)

    def _hand_over(self, item: tuple[TrackedFrame, int, int] | None) -> None:
        """Into the flow thread's queue, waiting while it is full (unless the flow thread has failed)."""
        while not self._flow_failed.is_set():
            try:
                self._tracked.put(item, timeout=self.POLL_S)
                return
            except queue.Full:
                continue
        if item is not None:
            raise RuntimeError("the engine's flow thread has stopped")

    def _flow_loop(self) -> None:
        """Stage 2 of the features, in the order the tracking thread gave them, handed to the engine in
        batches (one lock per batch)."""
        try:
            finished = False
            while not finished:
                batch = [self._tracked.get()]
                while len(batch) < self.TRACKED_FRAMES and batch[-1] is not None:
                    try:
                        batch.append(self._tracked.get_nowait())
                    except queue.Empty:
                        break
                finished = batch[-1] is None
                done = [(self.engine.measure_frame(tracked), stamp, host_ns)
                        for tracked, stamp, host_ns in (item for item in batch if item is not None)]
                with self._lock:
                    for features, stamp, host_ns in done:
                        self.engine.add_features(features, stamp, host_ns)
        except BaseException as exc:
            log.exception("engine flow thread failed")
            self.error = self.error or exc
            self._flow_failed.set()

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
            self.error = self.error or exc  # the first failure is the cause (the flow thread's, say)

    def _pull_ecg(self, final: bool) -> bool:
        """ECG into the engine: R-peaks and heart rate (its own thread: the detector runs beside the video
        features, on the other core)."""
        ecg = self._ecg.read_new(copy=True)
        if len(ecg.items):
            self.engine.push_ecg(ecg.items[:, 0], lock=self._lock)
        return bool(len(ecg.items))

    def _stamp(self, pulse: int, predicted: int, final: bool) -> int | None:
        """The frame's stamp by the acquisition's rule; None while it has to wait for its edge."""
        return predicted if self._stamps is None else self._stamps.resolve(pulse, predicted, final)

    def _pull(self, final: bool) -> bool:
        """Frames into tracked frames (stage 1 of the features), each stamped with its trigger edge's ECG
        sample, handed to the flow thread."""
        frames = self._frames.read_new(max_items=32, copy=False)
        self.frames_lost += frames.lost
        while self._waiting:  # frames that waited for their edge go first, in order
            frame, pulse, predicted, host_ns = self._waiting[0]
            stamp = self._stamp(pulse, predicted, final)
            if stamp is None:
                break
            self._waiting.popleft()
            self._hand_over((self.engine.track_frame(frame), stamp, host_ns))
        for i in range(len(frames.items)):
            meta = frames.meta[i]
            pulse, predicted = int(meta["trigger_pulse"]), int(meta["ecg_sample"])
            host_ns = int(meta["host_ns"])
            stamp = None if self._waiting else self._stamp(pulse, predicted, final)
            if stamp is None:  # copy: the ring may overwrite the frame while it waits
                self._waiting.append((np.array(frames.items[i]), pulse, predicted, host_ns))
            else:
                self._hand_over((self.engine.track_frame(frames.items[i]), stamp, host_ns))
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
