"""CMCL-Net as a spotter: sliding windows of video features and ECG scored by the ONNX model; consecutive
windows at or above the threshold (allowing ``max_gap_windows`` below it) make a candidate whose apex
estimate is the windows' score-weighted centre (an ME window has its apex in the middle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.features.ecg import FILTER_PAD_S, ecg_wave_window, hrv_features
from inference.features.video import video_window
from inference.runtime import SpottingModel
from inference.spotters._base import Candidate, Spotter

if TYPE_CHECKING:
    from inference.engine import SpottingEngine

MAX_GAP_WINDOWS = 1  # below-threshold windows tolerated inside one candidate
BATCH_MAX = 16  # windows scored per model call


def merge_windows(
    starts_ms: np.ndarray, scores: np.ndarray, threshold: float, window_ms: float,
    max_gap_windows: int = MAX_GAP_WINDOWS,
) -> list[Candidate]:
    """Windows with score >= threshold, merged when at most ``max_gap_windows`` below-threshold windows
    separate them (``starts_ms`` ascending, one per stride)."""
    starts_ms = np.asarray(starts_ms, dtype=float)
    scores = np.asarray(scores, dtype=float)
    positive = np.flatnonzero(scores >= threshold)
    if positive.size == 0:
        return []
    groups = np.split(positive, np.flatnonzero(np.diff(positive) > max_gap_windows + 1) + 1)
    return [_candidate(starts_ms[group], scores[group], window_ms) for group in groups]


def _candidate(starts: np.ndarray, weights: np.ndarray, window_ms: float) -> Candidate:
    centres = starts + window_ms / 2
    return Candidate(float(starts[0]), float(starts[-1] + window_ms), float(weights.max()),
                     float(weights.mean()), len(starts), float(np.sum(weights * centres) / np.sum(weights)))


@dataclass
class _Batch:
    starts: list[float]
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray]


class CmclNetSpotter(Spotter):
    kind = "cmcl-net"
    score_label = "model score"

    def __init__(self, model: SpottingModel) -> None:
        super().__init__(model.spec, model.threshold)
        self.model = model
        self._next_window_ms = 0.0
        self._open: list[tuple[float, float]] = []  # (start_ms, score) of the candidate being built
        self._gap = 0
        self.windows_scored = 0

    def describe(self) -> dict[str, Any]:
        return {"spotter": self.kind, "model": str(self.model.path), "threshold": self.threshold,
                "windows_scored": self.windows_scored, "trained_on": self.model.trained_on}

    # -- windows --------------------------------------------------------------------------------------
    def _ready_windows(self, engine: SpottingEngine, final: bool) -> list[float]:
        """Window starts whose video and ECG context have arrived (at most BATCH_MAX)."""
        spec = self.spec
        last = engine.frame_ms.last()
        if last is None:
            return []
        last_frame_ms = float(last)
        # the ECG both stored and through the R-peak detector (which may run a little behind, unlocked)
        ecg_ms = min(engine.ecg.end, engine.heart.samples_seen) / engine.ecg_rate * 1000.0
        ready: list[float] = []
        while len(ready) < BATCH_MAX:
            start = self._next_window_ms
            end = start + spec.window_ms
            if not final and (last_frame_ms < end or ecg_ms < end + spec.ecg_post_ms):
                break
            if final and end > max(last_frame_ms, 0.0):
                break
            ready.append(start)
            self._next_window_ms += spec.stride_ms
        return ready

    def build_windows(self, engine: SpottingEngine, starts: list[float]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        spec = self.spec
        rate = engine.ecg_rate
        n = len(starts)
        video = np.zeros((n, spec.video_steps, spec.video_channels), np.float32)
        ecg = np.zeros((n, spec.ecg_steps), np.float32)
        hrv = np.zeros((n, len(spec.hrv_features)), np.float32)
        frames_per_window = spec.frames(spec.window_ms, engine.fps) + 2
        for i, start_ms in enumerate(starts):
            first = engine.frame_index_at(start_ms) - 1
            feats, _ = engine.features.get(first, first + frames_per_window + 2)
            times, _ = engine.frame_ms.get(first, first + frames_per_window + 2)
            video[i] = video_window(feats, times, start_ms, spec)
            start_sample = round(start_ms * rate / 1000.0)
            lo = start_sample - spec.samples(spec.ecg_pre_ms, rate) - round(FILTER_PAD_S * rate)
            hi = start_sample + spec.samples(spec.window_ms + spec.ecg_post_ms, rate)
            segment, seg_start = engine.ecg.get(lo, hi)
            if seg_start > lo:  # before the recording began, or no longer kept: missing samples
                segment = np.concatenate([np.full(seg_start - lo, np.nan), segment])
            ecg[i] = ecg_wave_window(segment, rate, start_sample - lo, spec)
            # only beats confirmed by the time sample ``hi`` arrived: the same whatever the ECG's lead
            hrv[i] = hrv_features(engine.heart.peaks_confirmed_by(hi), rate, hi, spec)
        return video, ecg, hrv

    # -- the three steps ------------------------------------------------------------------------------
    def prepare(self, engine: SpottingEngine, final: bool) -> _Batch | None:
        starts = self._ready_windows(engine, final)
        return _Batch(starts, self.build_windows(engine, starts)) if starts else None

    def compute(self, work: _Batch) -> np.ndarray:
        return self.model.score(*work.inputs)

    def collect(self, work: _Batch, result: np.ndarray, final: bool) -> list[Candidate]:
        self.windows_scored += len(work.starts)
        out = []
        half = self.spec.window_ms / 2
        for start, score in zip(work.starts, result, strict=True):
            self.trace_ms.append(start + half)
            self.trace.append(float(score))
            if score >= self.threshold:
                self._open.append((start, float(score)))
                self._gap = 0
            elif self._open:
                self._gap += 1
                if self._gap > MAX_GAP_WINDOWS:
                    out.append(self._close())
        return out

    def flush(self) -> list[Candidate]:
        """The candidate still open at the end of the session."""
        return [self._close()] if self._open else []

    def _close(self) -> Candidate:
        starts = np.array([s for s, _ in self._open])
        scores = np.array([c for _, c in self._open])
        self._open, self._gap = [], 0
        return _candidate(starts, scores, self.spec.window_ms)
