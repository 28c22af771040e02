"""The training-free spotter: peaks of the facial motion above an adaptive threshold.

In the family of MDMD (Wang et al. 2017) and "Rethinking optical flow methods for micro-expression
spotting" (Zhao et al., ACM MM 2022): optical flow on the landmark-placed AU regions with the head's motion
removed (the video features, :mod:`inference.features.video`), then, per measured frame:

1. each region's flow magnitude over its own noise floor (the median over the last ``noise_window_s``), so a
   noisy region (a talking mouth, a textured brow) does not drown a quiet one and any face, camera and light
   works without calibration;
2. the motion profile: the mean of the ``top_regions`` largest of those ratios (an ME moves one or two AUs);
3. the adaptive threshold: the profile's median plus ``threshold_mads`` robust SDs over the last
   ``threshold_window_s`` (never below ``min_threshold``);
4. a candidate at each profile peak (the largest within ``peak_half_width_ms`` either side) whose score,
   profile over threshold, reaches the spotter's threshold (1 by default); peaks during a fast head movement
   (the flow is unreliable), a blink (the lids close, or both upper lids move up or down together, for a
   peak in the eye or brow regions: no action unit of an emotion closes both eyes) or speech (the
   lips part, for a peak at the mouth) are dropped and counted.

Statistics are refreshed on whole seconds of the session clock from the samples before them, so the result
does not depend on how the frames are batched: the live engine and an offline pass over a recording find the
same candidates. ``FlowDetector`` is the whole method; :class:`FlowSpotter` runs it inside the engine.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.face.layout import REGIONS
from inference.features.spec import FeatureSpec
from inference.features.video import VIDEO_FEATURE_NAMES
from inference.spotters._base import Candidate, Spotter

if TYPE_CHECKING:
    from inference.engine import SpottingEngine

MAD_TO_SD = 1.4826
EYE_REGIONS = frozenset(n for n in REGIONS if n.startswith(("lid_", "brow_")))
LID_REGIONS = frozenset(n for n in REGIONS if n.startswith("lid_"))
MOUTH_REGIONS = frozenset(n for n in REGIONS if n.startswith(("mouth_", "lip_", "chin")))
_REGION_NAMES = tuple(REGIONS)
_DX = np.array([VIDEO_FEATURE_NAMES.index(f"{r}_dx") for r in REGIONS])
_DY = _DX + 1
_UPPER_LIDS_DY = np.array([VIDEO_FEATURE_NAMES.index(f"{r}_dy") for r in ("lid_up_l", "lid_up_r")])
_COLUMN = {name: VIDEO_FEATURE_NAMES.index(name) for name in
           ("head_mag", "head_fit_error", "eye_aperture", "mouth_aperture", "face_present")}


@dataclass(frozen=True)
class FlowSettings:
    top_regions: int = 2
    noise_window_s: float = 20.0
    threshold_window_s: float = 30.0
    threshold_mads: float = 5.0
    min_threshold: float = 3.0  # in noise-floor units
    stats_period_ms: float = 1000.0  # statistics are refreshed on this grid of the session clock
    warmup_s: float = 1.5  # no candidate before this much face has been seen (the statistics need it)
    floor_min_px: float = 0.005  # smallest noise floor a ratio divides by (crop px)
    peak_half_width_ms: float = 250.0
    gate_half_width_ms: float = 200.0  # gates look this far either side of the peak
    max_head_px: float = 2.0  # head translation per reference interval above which the flow is not trusted
    max_fit_error_px: float = 0.5  # ... and the head-motion fit's median error
    blink_ratio: float = 0.6  # lids closed below this share of their usual opening: a blink
    blink_lid_share: float = 0.2  # ... or both upper lids moving up or down together, each by this share of
    # the peak's motion (closing and opening: no action unit of an emotion moves both upper lids so)
    speech_range: float = 0.08  # inner-lip opening changing by more than this share of the mouth width

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"flow spotter setting {f.name} must be positive, not {value!r}")
        if self.top_regions > len(REGIONS):
            raise ValueError(f"top_regions must be at most {len(REGIONS)}")


@dataclass
class FlowStats:
    samples: int = 0
    peaks: int = 0
    candidates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: {"head": 0, "blink": 0, "speech": 0})


@dataclass
class _Sample:
    index: int
    time_ms: float
    profile: float
    threshold: float
    regions: tuple[str, ...]
    head: float
    fit_error: float
    eye: float
    mouth: float
    lids_together: float  # the smaller of the two upper lids' vertical motion when both move the same way
    peak_motion: float  # the leading region's motion


def _together(dy: np.ndarray) -> float:
    """The smaller vertical motion of the two upper lids when both move the same way (0 otherwise)."""
    left, right = float(dy[0]), float(dy[1])
    return min(abs(left), abs(right)) if left * right > 0 else 0.0


def _profile(ratios: np.ndarray, top: int) -> np.ndarray:
    """Mean of the ``top`` largest region ratios of each row."""
    return -np.sort(-ratios, axis=-1)[..., :top].mean(axis=-1)


class FlowDetector:
    """Push per-frame features in order (all frames: only the measured ones are used); get candidates."""

    def __init__(self, spec: FeatureSpec, fps: float, settings: FlowSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or FlowSettings()
        self.step = spec.feature_step(fps)
        self.stats = FlowStats()
        self._frame = -1
        keep = max(self.settings.noise_window_s, self.settings.threshold_window_s) * 1000.0
        self._keep_ms = keep
        self._history: deque[tuple[float, np.ndarray, float]] = deque()  # (time, region mags, eye opening)
        self._recent: deque[_Sample] = deque()  # samples that peaks still being checked can see
        self._checked = 0  # samples (by index) whose peak test is done
        self.trace: list[tuple[float, float]] = []  # (time, score) of each measured sample; callers drain it
        self._stats_at = -math.inf
        self._first_ms: float | None = None  # the first measured sample with a face
        self._floor: np.ndarray | None = None
        self._eye_open = float("nan")
        self._profile_threshold = float("nan")

    def push(self, features: np.ndarray, frame_ms: np.ndarray, threshold: float = 1.0) -> list[Candidate]:
        """Candidates confirmed by these frames (their peaks lie ``peak_half_width_ms`` back or more)."""
        out: list[Candidate] = []
        features = np.asarray(features)
        for row, time_ms in zip(features, np.asarray(frame_ms, np.float64), strict=True):
            self._frame += 1
            if self._frame % self.step or row[_COLUMN["face_present"]] == 0:
                continue
            self._add(row, float(time_ms))
            out.extend(self._confirm(float(time_ms), threshold))
        return out

    def finish(self, threshold: float = 1.0) -> list[Candidate]:
        """The peaks still waiting for the rest of their window at the end of the session."""
        return self._confirm(math.inf, threshold)

    # -- statistics ------------------------------------------------------------------------------------
    def _refresh(self, time_ms: float) -> None:
        period = self.settings.stats_period_ms
        boundary = math.floor(time_ms / period) * period
        if boundary <= self._stats_at:
            return
        self._stats_at = boundary
        s = self.settings
        while self._history and self._history[0][0] < boundary - self._keep_ms:
            self._history.popleft()
        if not self._history or self._first_ms is None or boundary - self._first_ms < s.warmup_s * 1000.0:
            return
        times = np.array([t for t, _, _ in self._history])
        magnitudes = np.array([m for _, m, _ in self._history])
        noise = times >= boundary - s.noise_window_s * 1000.0
        self._floor = np.maximum(np.median(magnitudes[noise], axis=0), s.floor_min_px)
        self._eye_open = float(np.median([e for t, _, e in self._history if t >= boundary - s.noise_window_s *
                                          1000.0]))
        recent = times >= boundary - s.threshold_window_s * 1000.0
        profiles = _profile(magnitudes[recent] / self._floor, s.top_regions)
        median = float(np.median(profiles))
        spread = MAD_TO_SD * float(np.median(np.abs(profiles - median)))
        self._profile_threshold = max(median + s.threshold_mads * spread, s.min_threshold)

    def _add(self, row: np.ndarray, time_ms: float) -> None:
        if self._first_ms is None:
            self._first_ms = time_ms
        self._refresh(time_ms)
        self.stats.samples += 1
        magnitudes = np.hypot(row[_DX], row[_DY]).astype(np.float64)  # each region's mean motion
        profile, regions, peak_motion = float("nan"), (), 0.0
        if self._floor is not None:
            ratio = magnitudes / self._floor
            top = np.argsort(-ratio)[: self.settings.top_regions]
            profile = float(_profile(ratio, self.settings.top_regions))
            regions = tuple(_REGION_NAMES[i] for i in top)
            peak_motion = float(magnitudes[top[0]])
        eye = float(row[_COLUMN["eye_aperture"]])
        self._history.append((time_ms, magnitudes, eye))
        score = profile / self._profile_threshold if np.isfinite(self._profile_threshold) else float("nan")
        self.trace.append((time_ms, score))
        self._recent.append(_Sample(self.stats.samples - 1, time_ms, profile, self._profile_threshold,
                                    regions,
                                    float(row[_COLUMN["head_mag"]]), float(row[_COLUMN["head_fit_error"]]),
                                    eye, float(row[_COLUMN["mouth_aperture"]]),
                                    _together(row[_UPPER_LIDS_DY]), peak_motion))

    # -- peaks ----------------------------------------------------------------------------------------
    def _confirm(self, now_ms: float, threshold: float) -> list[Candidate]:
        s = self.settings
        half, gate = s.peak_half_width_ms, s.gate_half_width_ms
        reach = max(half, gate)
        recent = list(self._recent)
        out: list[Candidate] = []
        for sample in recent:
            if sample.index < self._checked:
                continue
            if sample.time_ms + reach > now_ms:
                break
            self._checked = sample.index + 1
            score = sample.profile / sample.threshold if np.isfinite(sample.threshold) else float("nan")
            if not (np.isfinite(score) and score >= threshold):
                continue
            around = [r for r in recent if abs(r.time_ms - sample.time_ms) <= half]
            if any(r.profile > sample.profile for r in around if r.time_ms < sample.time_ms) or any(
                    r.profile > sample.profile for r in around if r.time_ms > sample.time_ms):
                continue
            if any(r.profile == sample.profile for r in around if r.time_ms < sample.time_ms):
                continue  # a plateau: its first sample is the peak
            self.stats.peaks += 1
            reason = self._gate(sample, [r for r in recent if abs(r.time_ms - sample.time_ms) <= gate])
            if reason:
                self.stats.rejected[reason] += 1
                continue
            self.stats.candidates += 1
            out.append(Candidate(sample.time_ms - half, sample.time_ms + half, score, score, 0,
                                 sample.time_ms))
        # keep what later peaks still need to look back at
        while self._recent and self._recent[0].index < self._checked and \
                self._recent[0].time_ms < now_ms - 2 * reach:
            self._recent.popleft()
        return out

    def _gate(self, peak: _Sample, around: list[_Sample]) -> str:
        s = self.settings
        if max(r.head for r in around) > s.max_head_px or \
                max(r.fit_error for r in around) > s.max_fit_error_px:
            return "head"
        leading = peak.regions[0] if peak.regions else ""
        closing = np.isfinite(self._eye_open) and min(r.eye for r in around) < s.blink_ratio * self._eye_open
        lids = leading in LID_REGIONS and max(r.lids_together for r in around) >= s.blink_lid_share * \
            peak.peak_motion
        if leading in EYE_REGIONS and (closing or lids):
            return "blink"
        mouths = [r.mouth for r in around]
        if leading in MOUTH_REGIONS and max(mouths) - min(mouths) > s.speech_range:
            return "speech"
        return ""


class FlowSpotter(Spotter):
    kind = "flow"
    score_label = "motion / adaptive threshold"

    def __init__(self, spec: FeatureSpec, fps: float, settings: FlowSettings | None = None,
                 threshold: float = 1.0) -> None:
        super().__init__(spec, threshold)
        self.detector = FlowDetector(spec, fps, settings)
        self._next_row = 0

    @property
    def settings(self) -> FlowSettings:
        return self.detector.settings

    def describe(self) -> dict[str, Any]:
        return {"spotter": self.kind, "threshold": self.threshold, "settings": asdict(self.settings),
                "rejected": dict(self.detector.stats.rejected)}

    def prepare(self, engine: SpottingEngine, final: bool) -> tuple[np.ndarray, np.ndarray] | None:
        end = engine.features.end
        if end <= self._next_row:
            return None
        features, first = engine.features.get(self._next_row, end)
        times, _ = engine.frame_ms.get(first, end)
        self._next_row = end
        return features.copy(), times.copy()

    def compute(self, work: tuple[np.ndarray, np.ndarray]
                ) -> tuple[list[Candidate], list[tuple[float, float]]]:
        found = self.detector.push(*work, threshold=self.threshold)
        trace, self.detector.trace = self.detector.trace, []
        return found, trace

    def collect(self, work: tuple[np.ndarray, np.ndarray],
                result: tuple[list[Candidate], list[tuple[float, float]]], final: bool) -> list[Candidate]:
        found, trace = result
        for time_ms, score in trace:
            self.trace_ms.append(time_ms)
            self.trace.append(score)
        return found

    def flush(self) -> list[Candidate]:
        return self.detector.finish(self.threshold)
